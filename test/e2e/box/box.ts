import { join } from 'node:path'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'
import { bashSucceeds, runBashScript, runBashScriptOk, type ScriptOptions, type ScriptResult } from '../helpers/bash-script.ts'

/**
 * The e2e side of box.sh: a fresh Debian 13 server in a box on this machine (a debootstrap
 * chroot in its own network namespace, with its own dockerd). Every call is bounded; box.sh's
 * progress lines ("[box NAME] step: ok (1.2 s)") reach our stderr as they come.
 */
export const BOX_SCRIPT = join(PROJECT_DIR, 'test', 'e2e', 'box', 'box.sh')

export type BoxResult = ScriptResult
export type BoxOptions = ScriptOptions

/** Runs `bash box.sh ARGS...`, bounded (dockerd, started detached, outlives a timeout's kill). */
export const box = (args: readonly string[], options: BoxOptions = {}): Promise<BoxResult> => runBashScript(BOX_SCRIPT, args, options)

/** Like box(), but a non-zero exit throws with the command's output. */
export const boxOk = (args: readonly string[], options: BoxOptions = {}): Promise<BoxResult> => runBashScriptOk(BOX_SCRIPT, args, options)

/** A bash script run as root in the box (`box.sh exec SCRIPT`); its stdout is returned, trimmed. */
export async function boxExec(script: string, options: BoxOptions = {}): Promise<string> {
  return (await boxOk(['exec', script], options)).stdout.trim()
}

/** The box's address on this host, and its root folder. */
export async function boxInfo(): Promise<{ ip: string; dir: string }> {
  const ip = (await boxOk(['ip'], { echo: false })).stdout.trim()
  const dir = (await boxOk(['path'], { echo: false })).stdout.trim()
  return { ip, dir }
}

/** What the box needs on the host, or the reason it cannot run here (a clear message for CI logs). */
export async function boxPrerequisites(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the box needs root (mounts, network namespaces, iptables)'
  const check = bashSucceeds
  const missing: string[] = []
  if (!(await check('command -v debootstrap'))) missing.push('debootstrap')
  if (!(await check('ip netns list'))) missing.push("iproute2 with 'ip netns'")
  for (const tool of ['iptables', 'nsenter', 'unshare', 'zstd', 'curl']) {
    if (!(await check(`command -v ${tool}`))) missing.push(tool)
  }
  if (missing.length === 0) return undefined
  return `missing on this host: ${missing.join(', ')} (apt-get install debootstrap iproute2 iptables util-linux zstd curl; CI installs them)`
}

/** Timings of named phases, printed to stderr as they end and as a summary. */
export class Phases {
  private readonly rows: Array<[string, number, boolean]> = []
  private readonly label: string

  constructor(label: string) {
    this.label = label
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now()
    let ok = false
    try {
      const value = await fn()
      ok = true
      return value
    } finally {
      const seconds = (Date.now() - started) / 1000
      this.rows.push([name, seconds, ok])
      process.stderr.write(`[${this.label}] ${name}: ${ok ? 'ok' : 'FAILED'} (${seconds.toFixed(1)} s)\n`)
    }
  }

  summary(): string {
    const width = Math.max(0, ...this.rows.map(([name]) => name.length))
    return this.rows.map(([name, seconds, ok]) => `[${this.label}]   ${name.padEnd(width)}  ${seconds.toFixed(1).padStart(6)} s${ok ? '' : '  FAILED'}`).join('\n')
  }
}
