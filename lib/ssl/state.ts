import { dockerExec } from '../docker/containers.ts'
import type { Command } from '../exec/executor.ts'
import { runningNginx } from '../nginx/apply.ts'
import type { StackContext } from '../stack/context.ts'
import { certbotAt, certbotShell } from './certbot.ts'
import { parseRenewalServer, type CertificateState } from './plan.ts'

const KEY_MARK = '@@aiko-key@@'
const RENEWAL_MARK = '@@aiko-renewal@@'

/** Prints the chain, whether the key exists, and certbot's renewal config of one certificate. */
const READ_STATE = `d="$1"
cat "/etc/letsencrypt/live/$d/fullchain.pem" 2>/dev/null
echo "${KEY_MARK}"
test -s "/etc/letsencrypt/live/$d/privkey.pem" && echo present
echo "${RENEWAL_MARK}"
cat "/etc/letsencrypt/renewal/$d.conf" 2>/dev/null
exit 0`

export function parseStateOutput(stdout: string): CertificateState {
  const [chain = '', afterChain = ''] = stdout.split(`${KEY_MARK}\n`)
  const [key = '', renewal = ''] = afterChain.split(`${RENEWAL_MARK}\n`)
  return {
    fullchain: chain.includes('BEGIN CERTIFICATE') ? chain : undefined,
    hasKey: key.trim() === 'present',
    renewalServer: parseRenewalServer(renewal),
  }
}

/** Prints the state of one certificate from a running container that mounts /etc/letsencrypt (nginx); parse it with parseStateOutput. */
export function readStateInContainer(id: string, domain: string): Command {
  return dockerExec(id, ['sh', '-c', READ_STATE, 'sh', domain], false)
}

/**
 * Reads the certificate files from the letsencrypt volume without any ACME request: through
 * the running nginx (cheap), or a one-off certbot container when nginx is not up.
 */
export async function readCertificateState(ctx: StackContext, domain: string): Promise<CertificateState> {
  const nginx = await runningNginx(ctx)
  const command = nginx !== undefined ? readStateInContainer(nginx, domain) : certbotShell(await certbotAt(ctx), READ_STATE, [domain], false)
  return parseStateOutput((await ctx.executor.run(command)).stdout)
}
