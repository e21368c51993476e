/**
 * Reads the SQL that Alembic's offline mode prints for PostgreSQL (`flask db upgrade A:head --sql`)
 * and points out the statements that are unsafe to run while the previous release is still serving:
 * destructive ones (they lose data or break the old code reading the schema) and blocking ones (they
 * hold a long ACCESS EXCLUSIVE / SHARE lock on a table that may be big). Pure: no database, no I/O.
 */

export type MigrationRisk = 'destructive' | 'blocking'

export interface MigrationFinding {
  risk: MigrationRisk
  /** A short stable id, such as 'drop-column' or 'create-index-not-concurrently'. */
  kind: string
  /** The statement as splitSqlStatements returns it (comments removed, possibly several lines). */
  statement: string
  /** One sentence: the expand/contract (or CONCURRENTLY, NOT VALID + VALIDATE) way to write it. */
  advice: string
}

const RULES = {
  'drop-table': {
    risk: 'destructive',
    advice: 'Contract in two releases: first ship code that no longer reads or writes the table, then drop it in a later migration once that release is live and a backup is taken.',
  },
  'drop-column': {
    risk: 'destructive',
    advice: 'Contract in two releases: first ship code that no longer reads or writes the column (remove it from the model), then drop the column in a later migration.',
  },
  'rename-table': {
    risk: 'destructive',
    advice: 'Expand/contract instead of renaming in place: create the new table (or a view under the new name), have the code write both and read the new one, and drop the old name in a later release.',
  },
  'rename-column': {
    risk: 'destructive',
    advice: 'Expand/contract instead of renaming in place: add the new column, write both and backfill, switch the reads to the new column, and drop the old one in a later release.',
  },
  'alter-column-type': {
    risk: 'destructive',
    advice: 'Expand/contract instead of changing the type in place (which rewrites the table under an ACCESS EXCLUSIVE lock and breaks code expecting the old type): add a column of the new type, write both and backfill in batches, switch the reads, and drop the old column in a later release.',
  },
  'set-not-null': {
    risk: 'blocking',
    advice: 'Add CHECK (column IS NOT NULL) NOT VALID, run VALIDATE CONSTRAINT in a separate step (it does not block writes), then SET NOT NULL, which PostgreSQL 12+ proves from the validated check without a scan, and drop the check.',
  },
  'add-column-not-null-no-default': {
    risk: 'blocking',
    advice: 'Add the column with a constant DEFAULT (instant on PostgreSQL 11+), or add it nullable, backfill it in batches and make it NOT NULL later through a validated CHECK constraint.',
  },
  'create-index-not-concurrently': {
    risk: 'blocking',
    advice: 'Use CREATE INDEX CONCURRENTLY (outside the transaction, e.g. postgresql_concurrently=True inside an Alembic autocommit_block) so that writes to the table go on while the index builds.',
  },
  'add-constraint-not-valid-missing': {
    risk: 'blocking',
    advice: 'Add the constraint with NOT VALID (a brief lock, new rows are checked at once) and run ALTER TABLE ... VALIDATE CONSTRAINT in a separate step, which checks the existing rows without blocking writes.',
  },
  'add-unique-without-index': {
    risk: 'blocking',
    advice: 'Build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then attach it with ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX), which takes only a brief lock.',
  },
  truncate: {
    risk: 'destructive',
    advice: 'Do not empty a table in a deploy migration: ship code that no longer uses the data first, take a backup, and remove the data (or drop the table) in a later contract release.',
  },
  'delete-without-where': {
    risk: 'destructive',
    advice: 'Give the DELETE a WHERE clause for just the rows meant and run it in batches after a backup, or retire the table by expand/contract instead of emptying it.',
  },
  'drop-schema': {
    risk: 'destructive',
    advice: 'Contract in two releases: drop the schema only in a later migration, once no live release reads any of its objects and a backup is taken.',
  },
  'lock-table': {
    risk: 'blocking',
    advice: 'Do not take explicit table locks in a migration: rely on row locks and batched updates, and where a lock cannot be avoided set a short lock_timeout so that the migration fails instead of stalling traffic.',
  },
} as const satisfies Record<string, { risk: MigrationRisk; advice: string }>

type Kind = keyof typeof RULES

// ---------------------------------------------------------------------------------------------
// Lexer

type TokenType = 'word' | 'ident' | 'string' | 'dollar' | 'number' | 'punct' | 'space' | 'line-comment' | 'block-comment'

interface Token {
  type: TokenType
  /** Words lowercased, quoted identifiers unquoted (case kept), anything else as written. */
  value: string
  raw: string
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y
const NUMBER = /[0-9][0-9A-Za-z_.]*/y

/** End (exclusive) of a quoted run starting at `start` (the opening quote); doubled quotes escape it. */
function quotedEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1
  while (i < sql.length) {
    const c = sql.charAt(i)
    if (backslashEscapes && c === '\\') {
      i += 2
    } else if (c === quote) {
      if (sql.charAt(i + 1) !== quote) return i + 1
      i += 2
    } else {
      i += 1
    }
  }
  return sql.length
}

/** The `$tag$` (or `$$`) opening a dollar-quoted string at `start`, if one does. */
function dollarTagAt(sql: string, start: number): string | undefined {
  if (sql.charAt(start) !== '$') return undefined
  DOLLAR_TAG.lastIndex = start
  return DOLLAR_TAG.test(sql) ? sql.slice(start, DOLLAR_TAG.lastIndex) : undefined
}

function lex(sql: string): Token[] {
  const tokens: Token[] = []
  const push = (type: TokenType, start: number, end: number, value?: string): number => {
    const raw = sql.slice(start, end)
    tokens.push({ type, raw, value: value ?? raw })
    return end
  }
  let i = 0
  while (i < sql.length) {
    const c = sql.charAt(i)
    const next = sql.charAt(i + 1)
    const tag = dollarTagAt(sql, i)
    if (/\s/.test(c)) {
      let end = i + 1
      while (end < sql.length && /\s/.test(sql.charAt(end))) end += 1
      i = push('space', i, end)
    } else if (c === '-' && next === '-') {
      const newline = sql.indexOf('\n', i)
      i = push('line-comment', i, newline === -1 ? sql.length : newline)
    } else if (c === '/' && next === '*') {
      let depth = 0
      let end = i
      while (end < sql.length) {
        const pair = sql.slice(end, end + 2)
        if (pair === '/*') {
          depth += 1
          end += 2
        } else if (pair === '*/') {
          depth -= 1
          end += 2
          if (depth === 0) break
        } else {
          end += 1
        }
      }
      i = push('block-comment', i, Math.min(end, sql.length))
    } else if (c === "'") {
      i = push('string', i, quotedEnd(sql, i, "'", false))
    } else if (c === '"') {
      const end = quotedEnd(sql, i, '"', false)
      const closed = end - 1 > i && sql.charAt(end - 1) === '"'
      i = push('ident', i, end, sql.slice(i + 1, closed ? end - 1 : end).replaceAll('""', '"'))
    } else if (IDENT_START.test(c)) {
      let end = i + 1
      while (end < sql.length && IDENT_PART.test(sql.charAt(end))) end += 1
      const word = sql.slice(i, end)
      if ((word === 'e' || word === 'E') && sql.charAt(end) === "'") {
        i = push('string', i, quotedEnd(sql, end, "'", true))
      } else {
        i = push('word', i, end, word.toLowerCase())
      }
    } else if (tag !== undefined) {
      const close = sql.indexOf(tag, i + tag.length)
      i = push('dollar', i, close === -1 ? sql.length : close + tag.length)
    } else if (/[0-9]/.test(c)) {
      NUMBER.lastIndex = i
      NUMBER.test(sql)
      i = push('number', i, Math.max(NUMBER.lastIndex, i + 1))
    } else {
      i = push('punct', i, i + 1)
    }
  }
  return tokens
}

// ---------------------------------------------------------------------------------------------
// Statements

interface Statement {
  text: string
  /** The statement's tokens without spaces and comments. */
  tokens: Token[]
}

function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token !== undefined && token.type === 'word' && words.includes(token.value)
}

function isPunct(token: Token | undefined, punct: string): boolean {
  return token !== undefined && token.type === 'punct' && token.value === punct
}

function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = []
  let text = ''
  let tokens: Token[] = []
  // Depth inside a `CREATE FUNCTION ... BEGIN ATOMIC ... END` body, whose `;` do not end the statement.
  let atomicDepth = 0
  const flush = () => {
    const trimmed = text.trim()
    if (trimmed !== '') statements.push({ text: trimmed, tokens })
    text = ''
    tokens = []
    atomicDepth = 0
  }
  for (const token of lex(sql)) {
    if (token.type === 'line-comment') continue
    if (token.type === 'block-comment') {
      if (text !== '' && !/\s$/.test(text)) text += ' '
      continue
    }
    if (isPunct(token, ';') && atomicDepth === 0) {
      flush()
      continue
    }
    text += token.raw
    if (token.type === 'space') continue
    if (token.type === 'word' && isWord(tokens[0], 'create')) {
      if (token.value === 'atomic' && isWord(tokens.at(-1), 'begin')) atomicDepth += 1
      else if (atomicDepth > 0 && token.value === 'case') atomicDepth += 1
      else if (atomicDepth > 0 && token.value === 'end') atomicDepth -= 1
    }
    tokens.push(token)
  }
  flush()
  return statements
}

/**
 * The statements of a SQL script, in order: comments removed, trimmed, without the `;` that ends
 * them. Semicolons inside single-quoted strings (E'' strings included), double-quoted identifiers,
 * dollar-quoted bodies, comments and BEGIN ATOMIC function bodies do not split.
 */
export function splitSqlStatements(sql: string): string[] {
  return splitStatements(sql).map((statement) => statement.text)
}

// ---------------------------------------------------------------------------------------------
// Classification

interface Relation {
  schema: string | undefined
  name: string
}

function identifier(token: Token | undefined): string | undefined {
  return token !== undefined && (token.type === 'word' || token.type === 'ident') ? token.value : undefined
}

/** A possibly qualified name at `start` (`public."user"`): the relation and the index after it. */
function relationAt(tokens: Token[], start: number): { relation: Relation; next: number } | undefined {
  const first = identifier(tokens[start])
  if (first === undefined) return undefined
  const parts = [first]
  let i = start + 1
  for (;;) {
    const part = isPunct(tokens[i], '.') ? identifier(tokens[i + 1]) : undefined
    if (part === undefined) break
    parts.push(part)
    i += 2
  }
  return { relation: { schema: parts.at(-2), name: parts.at(-1) ?? first }, next: i }
}

/** `[ONLY] a [*], [ONLY] b [*], ...` as in DROP TABLE, TRUNCATE and LOCK. */
function relationListAt(tokens: Token[], start: number): Relation[] {
  const relations: Relation[] = []
  let i = start
  for (;;) {
    if (isWord(tokens[i], 'only')) i += 1
    const parsed = relationAt(tokens, i)
    if (parsed === undefined) return relations
    relations.push(parsed.relation)
    i = parsed.next
    if (isPunct(tokens[i], '*')) i += 1
    if (!isPunct(tokens[i], ',')) return relations
    i += 1
  }
}

function sameRelation(a: Relation, b: Relation): boolean {
  return a.name === b.name && (a.schema === undefined || b.schema === undefined || a.schema === b.schema)
}

/** Index of `words` (in sequence) at parenthesis depth 0 from `start`, or -1. */
function findTopLevel(tokens: Token[], start: number, ...words: string[]): number {
  let depth = 0
  for (let i = start; i < tokens.length; i += 1) {
    const token = tokens[i]
    if (isPunct(token, '(') || isPunct(token, '[')) depth += 1
    else if (isPunct(token, ')') || isPunct(token, ']')) depth -= 1
    else if (depth === 0 && words.every((word, offset) => isWord(tokens[i + offset], word))) return i
  }
  return -1
}

/** Splits on commas at parenthesis depth 0. */
function splitTopLevel(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]]
  let depth = 0
  for (const token of tokens) {
    if (isPunct(token, '(') || isPunct(token, '[')) depth += 1
    else if (isPunct(token, ')') || isPunct(token, ']')) depth -= 1
    if (depth === 0 && isPunct(token, ',')) parts.push([])
    else parts.at(-1)?.push(token)
  }
  return parts.filter((part) => part.length > 0)
}

/** What earlier statements of the same SQL established. */
interface Context {
  /** Tables created by this SQL (not IF NOT EXISTS): empty, and unknown to the running release. */
  created: Relation[]
  /** `table\0constraint` → column, for CHECK (column IS NOT NULL) NOT VALID not validated yet. */
  pendingNotNullChecks: Map<string, string>
  /** `table\0column` proven not null by a valid CHECK (column IS NOT NULL). */
  provenNotNull: Set<string>
}

const key = (relation: Relation, name: string) => `${relation.name}\0${name}`

function isCreated(context: Context, relation: Relation): boolean {
  return context.created.some((created) => sameRelation(created, relation))
}

/** The column of a `CHECK ( column IS NOT NULL )` body, if that is all the check says. */
function notNullCheckColumn(tokens: Token[]): string | undefined {
  const [open, column, is, not, nul, close, ...rest] = tokens
  const shape = isPunct(open, '(') && isWord(is, 'is') && isWord(not, 'not') && isWord(nul, 'null') && isPunct(close, ')') && rest.length === 0
  return shape ? identifier(column) : undefined
}

function classifyAddConstraint(action: Token[], table: Relation, context: Context): Kind[] {
  let i = 1
  let name: string | undefined
  if (isWord(action[i], 'constraint')) {
    name = identifier(action[i + 1])
    i += 2
  }
  const notValid = findTopLevel(action, i, 'not', 'valid') !== -1
  if (isWord(action[i], 'check')) {
    const end = notValid ? findTopLevel(action, i, 'not', 'valid') : action.length
    const column = notNullCheckColumn(action.slice(i + 1, end))
    if (column !== undefined) {
      if (!notValid) context.provenNotNull.add(key(table, column))
      else if (name !== undefined) context.pendingNotNullChecks.set(key(table, name), column)
    }
  }
  if (isWord(action[i], 'foreign', 'check')) return notValid ? [] : ['add-constraint-not-valid-missing']
  if (isWord(action[i], 'unique', 'primary')) return findTopLevel(action, i, 'using', 'index') === -1 ? ['add-unique-without-index'] : []
  return []
}

function classifyAddColumn(action: Token[]): Kind[] {
  let i = 1
  if (isWord(action[i], 'column')) i += 1
  if (isWord(action[i], 'if') && isWord(action[i + 1], 'not') && isWord(action[i + 2], 'exists')) i += 3
  const definition = action.slice(i + 1)
  const notNull = findTopLevel(definition, 0, 'not', 'null') !== -1
  const filled = findTopLevel(definition, 0, 'default') !== -1 || findTopLevel(definition, 0, 'generated') !== -1 || isWord(definition[0], 'serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8')
  return notNull && !filled ? ['add-column-not-null-no-default'] : []
}

/** One action of ALTER TABLE (the text between top-level commas). */
function classifyAlterAction(action: Token[], table: Relation, context: Context): Kind[] {
  const [verb, second] = action
  if (isWord(verb, 'drop')) return isWord(second, 'constraint') ? [] : ['drop-column']
  if (isWord(verb, 'add')) return isWord(second, 'constraint', 'foreign', 'check', 'unique', 'primary', 'exclude') ? classifyAddConstraint(action, table, context) : classifyAddColumn(action)
  if (isWord(verb, 'validate') && isWord(second, 'constraint')) {
    const name = identifier(action[2])
    const column = name === undefined ? undefined : context.pendingNotNullChecks.get(key(table, name))
    if (column !== undefined) context.provenNotNull.add(key(table, column))
    return []
  }
  if (isWord(verb, 'alter') && !isWord(second, 'constraint')) {
    const at = isWord(second, 'column') ? 2 : 1
    const column = identifier(action[at])
    const rest = action.slice(at + 1)
    if (isWord(rest[0], 'type') || (isWord(rest[0], 'set') && isWord(rest[1], 'data') && isWord(rest[2], 'type'))) return ['alter-column-type']
    if (isWord(rest[0], 'set') && isWord(rest[1], 'not') && isWord(rest[2], 'null')) {
      return column !== undefined && context.provenNotNull.has(key(table, column)) ? [] : ['set-not-null']
    }
  }
  return []
}

function classifyAlterTable(tokens: Token[], context: Context): Kind[] {
  let i = 2
  if (isWord(tokens[i], 'if') && isWord(tokens[i + 1], 'exists')) i += 2
  if (isWord(tokens[i], 'only')) i += 1
  const parsed = relationAt(tokens, i)
  if (parsed === undefined) return []
  const table = parsed.relation
  i = parsed.next
  if (isPunct(tokens[i], '*')) i += 1
  const isNew = isCreated(context, table)
  if (isWord(tokens[i], 'rename')) {
    if (isWord(tokens[i + 1], 'to')) {
      const renamed = relationAt(tokens, i + 2)
      if (isNew && renamed !== undefined) context.created.push({ schema: table.schema, name: renamed.relation.name })
      return isNew ? [] : ['rename-table']
    }
    if (isWord(tokens[i + 1], 'constraint')) return []
    return isNew ? [] : ['rename-column']
  }
  const kinds = splitTopLevel(tokens.slice(i)).flatMap((action) => classifyAlterAction(action, table, context))
  return isNew ? [] : kinds
}

const CREATE_TABLE_MODIFIERS = ['or', 'replace', 'global', 'local', 'temp', 'temporary', 'unlogged']

function classifyCreate(tokens: Token[], context: Context): Kind[] {
  let i = 1
  while (isWord(tokens[i], ...CREATE_TABLE_MODIFIERS)) i += 1
  if (isWord(tokens[i], 'table')) {
    const ifNotExists = isWord(tokens[i + 1], 'if') && isWord(tokens[i + 2], 'not') && isWord(tokens[i + 3], 'exists')
    const parsed = relationAt(tokens, ifNotExists ? i + 4 : i + 1)
    if (!ifNotExists && parsed !== undefined) context.created.push(parsed.relation)
    return []
  }
  i = isWord(tokens[1], 'unique') ? 2 : 1
  if (!isWord(tokens[i], 'index')) return []
  if (isWord(tokens[i + 1], 'concurrently')) return []
  const on = findTopLevel(tokens, i + 1, 'on')
  if (on === -1) return []
  const parsed = relationAt(tokens, isWord(tokens[on + 1], 'only') ? on + 2 : on + 1)
  return parsed === undefined || isCreated(context, parsed.relation) ? [] : ['create-index-not-concurrently']
}

/** Findings unless every table named is one this SQL created. */
function unlessAllCreated(kind: Kind, relations: Relation[], context: Context): Kind[] {
  return relations.length > 0 && relations.every((relation) => isCreated(context, relation)) ? [] : [kind]
}

function classifyDelete(tokens: Token[], context: Context): Kind[] {
  const at = findTopLevel(tokens, 0, 'delete', 'from')
  if (at === -1) return []
  const parsed = relationAt(tokens, isWord(tokens[at + 2], 'only') ? at + 3 : at + 2)
  if (findTopLevel(tokens, at, 'where') !== -1) return []
  return unlessAllCreated('delete-without-where', parsed === undefined ? [] : [parsed.relation], context)
}

function classifyStatement(tokens: Token[], context: Context): Kind[] {
  const [first, second] = tokens
  if (isWord(first, 'create')) return classifyCreate(tokens, context)
  if (isWord(first, 'alter') && isWord(second, 'table')) return classifyAlterTable(tokens, context)
  if (isWord(first, 'drop') && isWord(second, 'schema')) return ['drop-schema']
  if (isWord(first, 'drop') && isWord(second, 'table')) {
    const relations = relationListAt(tokens, isWord(tokens[2], 'if') && isWord(tokens[3], 'exists') ? 4 : 2)
    const kinds = unlessAllCreated('drop-table', relations, context)
    context.created = context.created.filter((created) => !relations.some((relation) => sameRelation(created, relation)))
    return kinds
  }
  if (isWord(first, 'truncate')) return unlessAllCreated('truncate', relationListAt(tokens, isWord(second, 'table') ? 2 : 1), context)
  if (isWord(first, 'lock')) return unlessAllCreated('lock-table', relationListAt(tokens, isWord(second, 'table') ? 2 : 1), context)
  if (isWord(first, 'delete', 'with')) return classifyDelete(tokens, context)
  return []
}

function touchesAlembicVersion(tokens: Token[]): boolean {
  return tokens.some((token) => identifier(token)?.toLowerCase() === 'alembic_version')
}

/**
 * The unsafe statements of Alembic's offline SQL, in statement order (one finding per kind per
 * statement). Statements touching alembic_version are never findings, nor is anything done to a
 * table created earlier in the same SQL (it is empty, and the running release does not use it).
 */
export function classifyMigrationSql(sql: string): MigrationFinding[] {
  const context: Context = { created: [], pendingNotNullChecks: new Map(), provenNotNull: new Set() }
  const findings: MigrationFinding[] = []
  for (const statement of splitStatements(sql)) {
    if (touchesAlembicVersion(statement.tokens)) continue
    for (const kind of new Set(classifyStatement(statement.tokens, context))) {
      findings.push({ risk: RULES[kind].risk, kind, statement: statement.text, advice: RULES[kind].advice })
    }
  }
  return findings
}

const MAX_STATEMENT_CHARS = 200

/** Two lines a finding: `risk kind: statement` (one line, at most 200 chars), then `  → advice`. */
export function formatFindings(findings: MigrationFinding[]): string[] {
  return findings.flatMap((finding) => {
    const oneLine = finding.statement.replace(/\s+/g, ' ').trim()
    const statement = oneLine.length > MAX_STATEMENT_CHARS ? `${oneLine.slice(0, MAX_STATEMENT_CHARS - 1)}…` : oneLine
    return [`${finding.risk} ${finding.kind}: ${statement}`, `  → ${finding.advice}`]
  })
}
