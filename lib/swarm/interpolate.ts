/**
 * Compose's variable substitution, for the stack mode: `docker stack deploy` does not read
 * .env, so the toolkit substitutes the values of .env (and AIKO_RELEASE, AIKO_VAR_DIR) into
 * the parsed docker-compose.yml itself before rendering the stack file. Pure: the variables are
 * given, nothing is read.
 *
 * The forms of the compose file reference: $VAR and ${VAR}; ${VAR:-default} (default when
 * unset or empty), ${VAR-default} (default when unset); ${VAR:?message} and ${VAR?message}
 * (an error when unset or empty / unset); $$ is a literal $. A default is read up to the first
 * "}": a variable inside a default (${A:-${B}}) is an error here (docker-compose.yml has none).
 * The stack file goes through the
 * CLI's own substitution once more at `docker stack deploy`, so a literal $ must stay escaped
 * in the output: $$ is kept as $$, and every $ in a substituted value is written $$
 * (the healthcheck of docker-compose.yml relies on "$$POSTGRES_USER" reaching the container's
 * shell as $POSTGRES_USER).
 */

export type Variables = Readonly<Record<string, string | undefined>>

export interface Interpolated<T> {
  value: T
  /** Variables used without a default and not set (compose substitutes an empty string and warns). */
  unset: string[]
}

const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{[^}]*\}?/g

const escapeDollars = (text: string): string => text.replace(/\$/g, '$$$$')

/** Substitutes the variables in one string; an error for ${VAR?message} forms and malformed ${...}. */
export function interpolateString(text: string, vars: Variables, unset: Set<string> = new Set()): string {
  return text.replace(PATTERN, (match: string, braced: string | undefined, operator: string | undefined, argument: string | undefined, bare: string | undefined) => {
    if (match === '$$') return '$$'
    const name = braced ?? bare
    if (name === undefined) throw new Error(`invalid substitution "${match}" in "${text}"`)
    const value = vars[name]
    const empty = value === undefined || value === ''
    switch (operator) {
      case ':-':
        return empty ? interpolateString(argument ?? '', vars, unset) : escapeDollars(value)
      case '-':
        return value === undefined ? interpolateString(argument ?? '', vars, unset) : escapeDollars(value)
      case ':?':
        if (empty) throw new Error(`${name}: ${argument === '' ? 'must be set and not empty' : argument}`)
        return escapeDollars(value)
      case '?':
        if (value === undefined) throw new Error(`${name}: ${argument === '' ? 'must be set' : argument}`)
        return escapeDollars(value)
      default:
        if (value === undefined) unset.add(name)
        return escapeDollars(value ?? '')
    }
  })
}

/** Substitutes every string value of a parsed compose file (keys are left alone, as compose does). */
export function interpolateValues<T>(value: T, vars: Variables): Interpolated<T> {
  const unset = new Set<string>()
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return interpolateString(node, vars, unset)
    if (Array.isArray(node)) return node.map(walk)
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]))
    return node
  }
  return { value: walk(value) as T, unset: [...unset].sort() }
}
