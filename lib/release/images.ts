import { RELEASE_ID_PATTERN } from './log.ts'

/** The images a release consists of; celery-worker and celery-beat run the backend image. */
export const IMAGE_REPOSITORIES = { backend: 'aiko-backend', frontend: 'aiko-frontend' } as const

export const WEB_PORTS = { backend: 5000, frontend: 3000 } as const
export type WebService = keyof typeof WEB_PORTS

export function releaseImages(release: string): string[] {
  return Object.values(IMAGE_REPOSITORIES).map((repository) => `${repository}:${release}`)
}

export function imageOfService(service: string, release: string): string {
  return `${service === 'frontend' ? IMAGE_REPOSITORIES.frontend : IMAGE_REPOSITORIES.backend}:${release}`
}

/**
 * Releases whose images may go: served ones beyond the newest `keep`, and every release that was
 * never served (a failed or killed deploy). Never the current one or the rollback target, and
 * never a tag the toolkit did not make (`latest`, anything an operator built by hand).
 */
export function releasesToPrune(tags: readonly string[], served: readonly string[], keep: number, protectedIds: readonly (string | undefined)[]): string[] {
  const kept = new Set([...served.slice(0, keep), ...protectedIds.filter((id): id is string => id !== undefined)])
  return tags.filter((tag) => RELEASE_ID_PATTERN.test(tag) && !kept.has(tag))
}

/** The release an app container runs, read from its image (`aiko-backend:R`); undefined for any other image. */
export function releaseOfImage(image: string): string | undefined {
  const match = /^(?:.*\/)?(aiko-backend|aiko-frontend):([^:/@]+)$/.exec(image)
  return match?.[2]
}
