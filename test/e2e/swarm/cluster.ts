import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'

/**
 * The e2e side of cluster.sh: a three-node Swarm on this machine (three dockerds in network
 * namespaces of their own on the bridge aikosw0). Every call is bounded; cluster.sh's
 * progress lines reach our stderr as they come.
 */
export const CLUSTER_SCRIPT = join(PROJECT_DIR, 'test', 'e2e', 'swarm', 'cluster.sh')
export const SWARM_DIR = join(PROJECT_DIR, 'test', 'e2e', 'swarm')

export type SwarmNode = 'node1' | 'node2' | 'node3'

export interface ClusterResult {
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface ClusterOptions {
  timeoutMs?: number
  env?: Record<string, string>
  /** Echo the command's stderr to ours while it runs (default true). */
  echo?: boolean
  cwd?: string
}

/** Runs `bash cluster.sh ARGS...`; on timeout its process group is killed (the daemons, started with setsid, are not in it). */
export function cluster(args: readonly string[], options: ClusterOptions = {}): Promise<ClusterResult> {
  const timeoutMs = options.timeoutMs ?? 300_000
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [CLUSTER_SCRIPT, ...args], {
      cwd: options.cwd ?? PROJECT_DIR,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (options.echo !== false) process.stderr.write(chunk)
    })
    const timer = setTimeout(() => {
      timedOut = true
      stderr += `\n[cluster.ts] cluster.sh ${args[0] ?? ''} timed out after ${timeoutMs / 1000} s: killed\n`
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr, timedOut })
    })
  })
}

/** Like cluster(), but a non-zero exit throws with the command's output. */
export async function clusterOk(args: readonly string[], options: ClusterOptions = {}): Promise<ClusterResult> {
  const result = await cluster(args, options)
  if (result.code !== 0) {
    throw new Error(`cluster.sh ${args.join(' ')}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`)
  }
  return result
}

/** `docker ARGS...` against a node; its stdout, trimmed. */
export async function nodeDocker(node: SwarmNode, args: readonly string[], options: ClusterOptions = {}): Promise<string> {
  return (await clusterOk(['exec', node, ...args], { echo: false, ...options })).stdout.trim()
}

/** What the cluster needs on this host, or the reason it cannot run here (a clear message for CI logs). */
export async function clusterPrerequisites(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the Swarm cluster needs root (network and mount namespaces, iptables, three dockerds)'
  const check = (script: string) =>
    new Promise<boolean>((resolve) => {
      const child = spawn('bash', ['-c', script], { stdio: 'ignore' })
      child.on('error', () => resolve(false))
      child.on('close', (code) => resolve(code === 0))
    })
  const missing: string[] = []
  if (!(await check('ip netns list'))) missing.push("iproute2 with 'ip netns'")
  for (const tool of ['iptables', 'nsenter', 'unshare', 'dockerd', 'containerd', 'ctr', 'docker', 'curl']) {
    if (!(await check(`command -v ${tool}`))) missing.push(tool)
  }
  if (missing.length > 0) return `missing on this host: ${missing.join(', ')} (apt-get install iproute2 iptables util-linux docker.io curl)`
  if (!(await check('docker image inspect aiko-standin/registry:test'))) return 'no image aiko-standin/registry:test (bash test/e2e/images/build.sh registry)'
  return undefined
}
