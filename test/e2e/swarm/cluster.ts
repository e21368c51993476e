import { join } from 'node:path'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'
import { bashSucceeds, runBashScript, runBashScriptOk, type ScriptOptions, type ScriptResult } from '../helpers/bash-script.ts'

/**
 * The e2e side of cluster.sh: a three-node Swarm on this machine (three dockerds in network
 * namespaces of their own on the bridge aikosw0). Every call is bounded; cluster.sh's
 * progress lines reach our stderr as they come.
 */
export const CLUSTER_SCRIPT = join(PROJECT_DIR, 'test', 'e2e', 'swarm', 'cluster.sh')
export const SWARM_DIR = join(PROJECT_DIR, 'test', 'e2e', 'swarm')

export type SwarmNode = 'node1' | 'node2' | 'node3'

export type ClusterResult = ScriptResult
export type ClusterOptions = Omit<ScriptOptions, 'input'>

/** Runs `bash cluster.sh ARGS...`, bounded (the daemons, started with setsid, outlive a timeout's kill). */
export const cluster = (args: readonly string[], options: ClusterOptions = {}): Promise<ClusterResult> => runBashScript(CLUSTER_SCRIPT, args, options)

/** Like cluster(), but a non-zero exit throws with the command's output. */
export const clusterOk = (args: readonly string[], options: ClusterOptions = {}): Promise<ClusterResult> => runBashScriptOk(CLUSTER_SCRIPT, args, options)

/** `docker ARGS...` against a node; its stdout, trimmed. */
export async function nodeDocker(node: SwarmNode, args: readonly string[], options: ClusterOptions = {}): Promise<string> {
  return (await clusterOk(['exec', node, ...args], { echo: false, ...options })).stdout.trim()
}

/** What the cluster needs on this host, or the reason it cannot run here (a clear message for CI logs). */
export async function clusterPrerequisites(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the Swarm cluster needs root (network and mount namespaces, iptables, three dockerds)'
  const check = bashSucceeds
  const missing: string[] = []
  if (!(await check('ip netns list'))) missing.push("iproute2 with 'ip netns'")
  for (const tool of ['iptables', 'nsenter', 'unshare', 'dockerd', 'containerd', 'ctr', 'docker', 'curl']) {
    if (!(await check(`command -v ${tool}`))) missing.push(tool)
  }
  if (missing.length > 0) return `missing on this host: ${missing.join(', ')} (apt-get install iproute2 iptables util-linux docker.io curl)`
  if (!(await check('docker image inspect aiko-standin/registry:test'))) return 'no image aiko-standin/registry:test (bash test/e2e/images/build.sh registry)'
  return undefined
}
