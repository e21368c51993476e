import { YAML } from 'zx'
import type { ContainerState } from '../docker/containers.ts'
import type { ServiceHealth, ServiceStatus } from './report.ts'

export interface ComposeService {
  name: string
  /** Empty for a service of the default set. */
  profiles: string[]
}

/**
 * The services of `compose config` output (YAML, the same model in v2 and 1.29). Compose 1.29
 * lists profile services whatever the active profiles, and v2 versions differ, so the
 * profiles are read from the model rather than trusted to `config --services`.
 */
export function parseComposeServices(yaml: string): ComposeService[] {
  const model: unknown = YAML.parse(yaml)
  if (typeof model !== 'object' || model === null) return []
  const services: unknown = (model as { services?: unknown }).services
  if (typeof services !== 'object' || services === null) return []
  return Object.entries(services as Record<string, unknown>).map(([name, definition]) => {
    const profiles: unknown = typeof definition === 'object' && definition !== null ? (definition as { profiles?: unknown }).profiles : undefined
    return { name, profiles: Array.isArray(profiles) ? profiles.filter((profile): profile is string => typeof profile === 'string') : [] }
  })
}

/** COMPOSE_PROFILES as compose reads it: comma-separated names. */
export function activeProfiles(value: string | undefined): string[] {
  return (value ?? '').split(',').map((name) => name.trim()).filter((name) => name.length > 0)
}

/** Services compose starts with `up`: no profile, or one of the active ones. */
export function expectedServices(services: readonly ComposeService[], active: readonly string[]): string[] {
  return services.filter((service) => service.profiles.length === 0 || service.profiles.some((profile) => active.includes(profile))).map((service) => service.name)
}

const HEALTH_ORDER: readonly ServiceHealth[] = ['unhealthy', 'starting', 'healthy']

function worstHealth(containers: readonly ContainerState[]): ServiceHealth {
  const healths = containers.map((container) => container.health)
  return HEALTH_ORDER.find((health) => healths.includes(health)) ?? 'none'
}

/**
 * One line per service: the expected ones (absent when they have no container), then any
 * other service that has a container (a profile service, an orphan), in name order.
 */
export function summariseServices(expected: readonly string[], states: readonly ContainerState[]): ServiceStatus[] {
  const withContainers = states.flatMap((state) => (state.service === undefined ? [] : [state.service]))
  const names = [...new Set([...expected, ...withContainers])].sort((a, b) => a.localeCompare(b))
  return names.map((name) => {
    const containers = states.filter((state) => state.service === name)
    const running = containers.filter((state) => state.status === 'running')
    const first = containers[0]
    return {
      name,
      state: running.length > 0 ? 'running' : (first?.status ?? 'absent'),
      health: worstHealth(running),
      containers: containers.length,
      images: [...new Set(containers.map((state) => state.image))],
      exitCode: running.length === 0 && first !== undefined ? first.exitCode : null,
      expected: expected.includes(name),
    }
  })
}
