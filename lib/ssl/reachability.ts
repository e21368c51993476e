import { randomBytes } from 'node:crypto'
import type { StackContext } from '../stack/context.ts'
import { certbotShell, WEBROOT, type CertbotAt } from './certbot.ts'

/** Fetches the token through each name, the way the ACME server will; one line per name. */
const FETCH_TOKEN = `import sys, urllib.request
name, token = sys.argv[1], sys.argv[2]
url = "http://%s/.well-known/acme-challenge/%s" % (name, token)
try:
    body = urllib.request.urlopen(url, timeout=10).read().decode(errors="replace")
    print("%s OK" % name if body == token else "%s FAIL answered, but not with this server's token (another server holds this name or port 80)" % name)
except Exception as error:
    print("%s FAIL %s" % (name, error))`

const CHECK = `py="$1"; token="$2"; shift 2
dir="${WEBROOT}/.well-known/acme-challenge"
mkdir -p "$dir" && printf %s "$token" > "$dir/$token" || exit 3
for name in "$@"; do python3 -c "$py" "$name" "$token"; done
rm -f "$dir/$token"`

export interface Reachability {
  name: string
  ok: boolean
  reason: string
}

export function parseReachability(stdout: string, names: readonly string[]): Reachability[] {
  const lines = stdout.split('\n')
  return names.map((name) => {
    const line = lines.find((candidate) => candidate.startsWith(`${name} `))
    if (line === undefined) return { name, ok: false, reason: 'no answer from the check' }
    const rest = line.slice(name.length + 1)
    return rest === 'OK' ? { name, ok: true, reason: '' } : { name, ok: false, reason: rest.replace(/^FAIL /, '') }
  })
}

/**
 * Proves, before any request to the ACME server, that every name reaches THIS nginx: a random
 * token goes into the shared webroot and must come back through http://NAME/.well-known/...
 */
export async function checkReachability(ctx: StackContext, certbot: CertbotAt, names: readonly string[]): Promise<Reachability[]> {
  const token = randomBytes(24).toString('base64url')
  const result = await ctx.executor.run(certbotShell(certbot, CHECK, [FETCH_TOKEN, token, ...names], true))
  if (result.skipped) return names.map((name) => ({ name, ok: true, reason: 'dry-run' }))
  return parseReachability(result.stdout, names)
}
