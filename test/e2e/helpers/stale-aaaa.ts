import { mkdir, rm, writeFile } from 'node:fs/promises'
import { runCommand, type RunResult } from './run.ts'
import { E2E } from './stack.ts'

/** A documentation address (RFC 3849): never contacted, only looked up. */
export const STALE_AAAA = '2001:db8::5'

/**
 * Runs a toolkit script as if www.DOMAIN had a stale AAAA record (a registrar's parking
 * record): `ip netns exec NS` mounts /etc/netns/NS/hosts over /etc/hosts for that run only,
 * so lookups are all it changes. The netns and its folder are removed afterwards.
 */
export async function runWithStaleAaaa(script: string, args: readonly string[]): Promise<RunResult> {
  const ns = `${E2E.project}-aaaa`
  await mkdir(`/etc/netns/${ns}`, { recursive: true })
  await writeFile(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n::1 localhost\n${STALE_AAAA} www.${E2E.domain}\n`)
  const added = await runCommand('ip', ['netns', 'add', ns])
  if (added.code !== 0) throw new Error(`ip netns add ${ns}: ${added.stderr}`)
  try {
    return await runCommand('ip', ['netns', 'exec', ns, 'npx', 'zx', `scripts/${script}.mts`, ...args], { timeoutMs: 300_000 })
  } finally {
    await runCommand('ip', ['netns', 'delete', ns])
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true })
  }
}
