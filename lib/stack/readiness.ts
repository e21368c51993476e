import type { ContainerState } from '../docker/containers.ts'

export type Readiness = { ready: true } | { ready: false; waitingFor: string[]; failed: string[] }

/**
 * Whether every expected service has a running container that is healthy (or has no
 * healthcheck). A container that exited or turned unhealthy is a failure, not a wait.
 */
export function assessReadiness(states: readonly ContainerState[], services: readonly string[]): Readiness {
  const waitingFor: string[] = []
  const failed: string[] = []
  for (const service of services) {
    const containers = states.filter((state) => state.service === service)
    if (containers.length === 0) {
      waitingFor.push(`${service} (no container yet)`)
      continue
    }
    for (const container of containers) {
      if (container.status === 'exited' || container.status === 'dead')
        failed.push(`${service} exited with code ${container.exitCode}`)
      else if (container.health === 'unhealthy')
        failed.push(`${service} is unhealthy${container.lastHealthLog ? `: ${container.lastHealthLog.split('\n').slice(-3).join(' ')}` : ''}`)
      else if (container.status !== 'running') waitingFor.push(`${service} (${container.status})`)
      else if (container.health !== undefined && container.health !== 'healthy') waitingFor.push(`${service} (${container.health})`)
    }
  }
  return waitingFor.length === 0 && failed.length === 0 ? { ready: true } : { ready: false, waitingFor, failed }
}
