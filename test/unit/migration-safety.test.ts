import { describe, expect, it } from 'vitest'
import { classifyMigrationSql, formatFindings, splitSqlStatements, type MigrationFinding } from '../../lib/db/migration-safety.ts'

/** What the findings say, without the advice text: risk, kind and statement. */
const summary = (sql: string) => classifyMigrationSql(sql).map(({ risk, kind, statement }) => ({ risk, kind, statement }))
const kinds = (sql: string) => classifyMigrationSql(sql).map((finding) => finding.kind)

const ALEMBIC_OUTPUT = `BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE "user" (
    id SERIAL NOT NULL, 
    email VARCHAR(255) NOT NULL, 
    PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_user_email ON "user" (email);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

ALTER TABLE notes ADD COLUMN author_id INTEGER;

ALTER TABLE notes ADD CONSTRAINT notes_author_id_fkey FOREIGN KEY(author_id) REFERENCES "user" (id);

CREATE INDEX ix_notes_author_id ON notes (author_id);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

ALTER TABLE notes DROP COLUMN legacy_body;

UPDATE notes SET title = 'untitled; DROP TABLE notes' WHERE title IS NULL;

ALTER TABLE notes ALTER COLUMN title SET NOT NULL;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

COMMIT;
`

describe('splitSqlStatements', () => {
  it('splits Alembic offline output into its statements, without comments, blank lines or the final semicolons', () => {
    expect(splitSqlStatements(ALEMBIC_OUTPUT)).toEqual([
      'BEGIN',
      'CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)',
      'CREATE TABLE "user" (\n    id SERIAL NOT NULL, \n    email VARCHAR(255) NOT NULL, \n    PRIMARY KEY (id)\n)',
      'CREATE UNIQUE INDEX ix_user_email ON "user" (email)',
      "INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num",
      'ALTER TABLE notes ADD COLUMN author_id INTEGER',
      'ALTER TABLE notes ADD CONSTRAINT notes_author_id_fkey FOREIGN KEY(author_id) REFERENCES "user" (id)',
      'CREATE INDEX ix_notes_author_id ON notes (author_id)',
      "UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001'",
      'ALTER TABLE notes DROP COLUMN legacy_body',
      "UPDATE notes SET title = 'untitled; DROP TABLE notes' WHERE title IS NULL",
      'ALTER TABLE notes ALTER COLUMN title SET NOT NULL',
      "UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002'",
      'COMMIT',
    ])
  })

  it('does not split inside single-quoted strings (with doubled quotes), E strings or double-quoted identifiers', () => {
    const sql = `INSERT INTO t (a) VALUES ('it''s; done -- not a comment');
INSERT INTO t (a) VALUES (E'back\\'slash; still inside');
ALTER TABLE "odd;name" ADD COLUMN "x""y" TEXT;`
    expect(splitSqlStatements(sql)).toEqual([
      "INSERT INTO t (a) VALUES ('it''s; done -- not a comment')",
      "INSERT INTO t (a) VALUES (E'back\\'slash; still inside')",
      'ALTER TABLE "odd;name" ADD COLUMN "x""y" TEXT',
    ])
  })

  it('keeps dollar-quoted bodies whole, with $$ or a $tag$ that nests another dollar quote', () => {
    const sql = `CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t; END; $$ LANGUAGE plpgsql;
DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $inner$; END $outer$;
SELECT $1;`
    expect(splitSqlStatements(sql)).toEqual([
      'CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t; END; $$ LANGUAGE plpgsql',
      'DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $inner$; END $outer$',
      'SELECT $1',
    ])
  })

  it('drops -- line comments and nested /* */ block comments, wherever they are', () => {
    const sql = `/* header; /* nested; */ still a comment; */
SELECT 1; -- trailing; comment
SELECT /* inline; */2;
-- only a comment;
;;`
    expect(splitSqlStatements(sql)).toEqual(['SELECT 1', 'SELECT 2'])
  })

  it('keeps a BEGIN ATOMIC function body, whose semicolons are its own, in one statement', () => {
    const sql = `CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 1; END;
SELECT one();`
    expect(splitSqlStatements(sql)).toEqual([
      'CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 1; END',
      'SELECT one()',
    ])
  })

  it('returns nothing for empty or comment-only SQL', () => {
    expect(splitSqlStatements('')).toEqual([])
    expect(splitSqlStatements('  -- Running upgrade 0001 -> 0002\n\n/* nothing */\n')).toEqual([])
  })
})

describe('classifyMigrationSql', () => {
  it('finds the unsafe statements of a full Alembic offline output, in order, and nothing about alembic_version', () => {
    expect(summary(ALEMBIC_OUTPUT)).toEqual([
      { risk: 'blocking', kind: 'add-constraint-not-valid-missing', statement: 'ALTER TABLE notes ADD CONSTRAINT notes_author_id_fkey FOREIGN KEY(author_id) REFERENCES "user" (id)' },
      { risk: 'blocking', kind: 'create-index-not-concurrently', statement: 'CREATE INDEX ix_notes_author_id ON notes (author_id)' },
      { risk: 'destructive', kind: 'drop-column', statement: 'ALTER TABLE notes DROP COLUMN legacy_body' },
      { risk: 'blocking', kind: 'set-not-null', statement: 'ALTER TABLE notes ALTER COLUMN title SET NOT NULL' },
    ])
  })

  it('gives each finding one sentence of advice', () => {
    const [finding] = classifyMigrationSql('ALTER TABLE notes DROP COLUMN body;')
    expect(finding).toEqual({
      risk: 'destructive',
      kind: 'drop-column',
      statement: 'ALTER TABLE notes DROP COLUMN body',
      advice: 'Contract in two releases: first ship code that no longer reads or writes the column (remove it from the model), then drop the column in a later migration.',
    })
  })

  it('never reports statements on alembic_version, whatever they do', () => {
    expect(kinds('DROP TABLE alembic_version; DELETE FROM public."alembic_version"; ALTER TABLE alembic_version ALTER COLUMN version_num TYPE VARCHAR(64);')).toEqual([])
  })

  it('ignores keywords inside a string literal: a value holding "; DROP TABLE x" is not a statement', () => {
    expect(kinds("INSERT INTO notes (body) VALUES ('hello; DROP TABLE x; --'); UPDATE notes SET body = 'TRUNCATE notes' WHERE id = 1;")).toEqual([])
  })

  it('ignores a dollar-quoted function body that drops, deletes or truncates', () => {
    const sql = `CREATE OR REPLACE FUNCTION purge() RETURNS trigger AS $body$
BEGIN
  DROP TABLE scratch;
  DELETE FROM audit;
  TRUNCATE notes;
  RETURN NULL;
END;
$body$ LANGUAGE plpgsql;
DO $$ BEGIN ALTER TABLE notes DROP COLUMN body; END $$;`
    expect(kinds(sql)).toEqual([])
  })

  it('reads multi-line statements, any case, quoted and schema-qualified names', () => {
    const sql = `alter table
    public."user"
    drop column
        "Email";
Alter Table "Notes" Rename Column body To content;`
    expect(summary(sql)).toEqual([
      { risk: 'destructive', kind: 'drop-column', statement: 'alter table\n    public."user"\n    drop column\n        "Email"' },
      { risk: 'destructive', kind: 'rename-column', statement: 'Alter Table "Notes" Rename Column body To content' },
    ])
  })

  it('reports drop-table, but not DROP INDEX', () => {
    expect(kinds('DROP TABLE IF EXISTS public.notes, tags CASCADE;')).toEqual(['drop-table'])
    expect(kinds('DROP INDEX ix_notes_title; DROP INDEX CONCURRENTLY IF EXISTS ix_notes_body;')).toEqual([])
  })

  it('reports drop-column (with or without the COLUMN keyword), but not DROP CONSTRAINT or DROP DEFAULT', () => {
    expect(kinds('ALTER TABLE notes DROP COLUMN IF EXISTS body; ALTER TABLE notes DROP title;')).toEqual(['drop-column', 'drop-column'])
    expect(kinds('ALTER TABLE notes DROP CONSTRAINT notes_author_fkey; ALTER TABLE notes ALTER COLUMN body DROP DEFAULT;')).toEqual([])
  })

  it('reports rename-table and rename-column (Alembic writes RENAME old TO new), but not RENAME CONSTRAINT or ALTER INDEX RENAME', () => {
    expect(kinds('ALTER TABLE notes RENAME TO memos; ALTER TABLE notes RENAME body TO content;')).toEqual(['rename-table', 'rename-column'])
    expect(kinds('ALTER TABLE notes RENAME CONSTRAINT a TO b; ALTER INDEX ix_a RENAME TO ix_b;')).toEqual([])
  })

  it('reports alter-column-type for TYPE and SET DATA TYPE, but not SET DEFAULT', () => {
    expect(kinds('ALTER TABLE notes ALTER COLUMN body TYPE TEXT USING body::text; ALTER TABLE notes ALTER views SET DATA TYPE BIGINT;')).toEqual(['alter-column-type', 'alter-column-type'])
    expect(kinds("ALTER TABLE notes ALTER COLUMN body SET DEFAULT '';")).toEqual([])
  })

  it('reports set-not-null, but not DROP NOT NULL nor SET NOT NULL after a validated CHECK (col IS NOT NULL) in the same SQL', () => {
    expect(kinds('ALTER TABLE notes ALTER COLUMN title SET NOT NULL;')).toEqual(['set-not-null'])
    expect(kinds('ALTER TABLE notes ALTER COLUMN title DROP NOT NULL;')).toEqual([])
    const safe = `ALTER TABLE notes ADD CONSTRAINT notes_title_not_null CHECK (title IS NOT NULL) NOT VALID;
ALTER TABLE notes VALIDATE CONSTRAINT notes_title_not_null;
ALTER TABLE notes ALTER COLUMN title SET NOT NULL;
ALTER TABLE notes DROP CONSTRAINT notes_title_not_null;`
    expect(kinds(safe)).toEqual([])
  })

  it('reports a NOT NULL column added without a default, but not a nullable one, one with a DEFAULT, a serial or a generated one', () => {
    expect(kinds('ALTER TABLE notes ADD COLUMN views INTEGER NOT NULL;')).toEqual(['add-column-not-null-no-default'])
    const safe = `ALTER TABLE notes ADD COLUMN views INTEGER;
ALTER TABLE notes ADD COLUMN likes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notes ADD COLUMN IF NOT EXISTS seq BIGSERIAL NOT NULL;
ALTER TABLE notes ADD COLUMN n INTEGER NOT NULL GENERATED ALWAYS AS (likes + 1) STORED;
ALTER TABLE notes ADD COLUMN flag BOOLEAN CHECK (flag IS NOT NULL);`
    expect(kinds(safe)).toEqual([])
  })

  it('reports an index built without CONCURRENTLY on an existing table, but not CONCURRENTLY nor on a table this SQL created', () => {
    expect(kinds('CREATE UNIQUE INDEX ix_notes_slug ON ONLY public.notes USING btree (slug);')).toEqual(['create-index-not-concurrently'])
    const safe = `CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_notes_title ON notes (title);
CREATE TABLE public.tags (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE INDEX ix_tags_name ON tags (name);`
    expect(kinds(safe)).toEqual([])
  })

  it('does not take CREATE TABLE IF NOT EXISTS as a new table: it may already be full', () => {
    expect(kinds('CREATE TABLE IF NOT EXISTS tags (id INT); CREATE INDEX ix_tags_id ON tags (id);')).toEqual(['create-index-not-concurrently'])
  })

  it('reports foreign keys and checks added without NOT VALID, but not with NOT VALID then VALIDATE CONSTRAINT', () => {
    const sql = `ALTER TABLE notes ADD CONSTRAINT notes_author_fkey FOREIGN KEY (author_id) REFERENCES "user" (id);
ALTER TABLE notes ADD CHECK (length(title) < 200);`
    expect(kinds(sql)).toEqual(['add-constraint-not-valid-missing', 'add-constraint-not-valid-missing'])
    const safe = `ALTER TABLE notes ADD CONSTRAINT notes_author_fkey FOREIGN KEY (author_id) REFERENCES "user" (id) NOT VALID;
ALTER TABLE notes VALIDATE CONSTRAINT notes_author_fkey;
ALTER TABLE notes ADD CONSTRAINT notes_title_len CHECK (length(title) < 200) NOT VALID;`
    expect(kinds(safe)).toEqual([])
  })

  it('reports UNIQUE or PRIMARY KEY constraints that build their index, but not USING INDEX', () => {
    expect(kinds('ALTER TABLE notes ADD CONSTRAINT uq_notes_slug UNIQUE (slug); ALTER TABLE tags ADD PRIMARY KEY (id);')).toEqual(['add-unique-without-index', 'add-unique-without-index'])
    expect(kinds('ALTER TABLE notes ADD CONSTRAINT uq_notes_slug UNIQUE USING INDEX ix_notes_slug;')).toEqual([])
  })

  it('reports truncate, but not on a table this SQL created', () => {
    expect(kinds('TRUNCATE TABLE notes, tags RESTART IDENTITY;')).toEqual(['truncate'])
    expect(kinds('CREATE TABLE scratch (id INT); TRUNCATE scratch;')).toEqual([])
  })

  it('reports a DELETE without a WHERE of its own, but not one with WHERE', () => {
    expect(kinds('DELETE FROM notes; DELETE FROM ONLY tags t USING notes n RETURNING (SELECT 1 WHERE true);')).toEqual(['delete-without-where', 'delete-without-where'])
    expect(kinds("DELETE FROM notes WHERE created_at < '2020-01-01'; WITH old AS (SELECT id FROM notes) DELETE FROM tags USING old WHERE tags.note_id = old.id;")).toEqual([])
  })

  it('reports drop-schema, but not CREATE SCHEMA', () => {
    expect(kinds('DROP SCHEMA IF EXISTS reporting CASCADE;')).toEqual(['drop-schema'])
    expect(kinds('CREATE SCHEMA IF NOT EXISTS reporting;')).toEqual([])
  })

  it('reports lock-table, but not row locks taken by SELECT ... FOR UPDATE', () => {
    expect(kinds('LOCK TABLE notes IN ACCESS EXCLUSIVE MODE; LOCK tags;')).toEqual(['lock-table', 'lock-table'])
    expect(kinds('SELECT id FROM notes WHERE id = 1 FOR UPDATE;')).toEqual([])
  })

  it('reports nothing for the safe statements: CREATE TABLE, nullable columns, INSERT and UPDATE with WHERE', () => {
    const sql = `CREATE TABLE comments (
    id SERIAL NOT NULL,
    note_id INTEGER NOT NULL REFERENCES notes (id),
    PRIMARY KEY (id)
);
ALTER TABLE notes ADD COLUMN summary TEXT;
INSERT INTO comments (note_id) SELECT id FROM notes;
UPDATE notes SET summary = left(body, 80) WHERE summary IS NULL;`
    expect(kinds(sql)).toEqual([])
  })

  it('lets a migration do anything to a table it created (and renamed) earlier, but not to one created after', () => {
    const sql = `CREATE TABLE staging (id INT, body TEXT);
ALTER TABLE staging ALTER COLUMN body SET NOT NULL, ADD COLUMN n INT NOT NULL;
ALTER TABLE staging RENAME TO staged;
ALTER TABLE staged DROP COLUMN body;
DROP TABLE staged;
DROP TABLE later;
CREATE TABLE later (id INT);`
    expect(kinds(sql)).toEqual(['drop-table'])
  })

  it('reports each kind once for an ALTER TABLE with several actions, in the order of the statements', () => {
    const sql = `ALTER TABLE notes DROP COLUMN a, DROP COLUMN b, ALTER COLUMN c TYPE TEXT, ADD COLUMN d INT NOT NULL;
DROP TABLE tags;`
    expect(kinds(sql)).toEqual(['drop-column', 'alter-column-type', 'add-column-not-null-no-default', 'drop-table'])
  })
})

describe('formatFindings', () => {
  it('prints each finding as a risk, kind and statement line and an indented advice line', () => {
    expect(formatFindings(classifyMigrationSql('ALTER TABLE notes\n    DROP COLUMN body;'))).toEqual([
      'destructive drop-column: ALTER TABLE notes DROP COLUMN body',
      '  → Contract in two releases: first ship code that no longer reads or writes the column (remove it from the model), then drop the column in a later migration.',
    ])
  })

  it('cuts a long statement at 200 characters', () => {
    const finding: MigrationFinding = { risk: 'blocking', kind: 'lock-table', statement: `LOCK TABLE ${'a'.repeat(300)}`, advice: 'Do not.' }
    expect(formatFindings([finding])).toEqual([`blocking lock-table: LOCK TABLE ${'a'.repeat(188)}…`, '  → Do not.'])
  })

  it('prints nothing when there is nothing to report', () => {
    expect(formatFindings([])).toEqual([])
  })
})
