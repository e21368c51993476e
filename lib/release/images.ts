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

/** Releases whose images may go: beyond the newest `keep` served ones, never the current one or the rollback target. */
export function releasesToPrune(tags: readonly string[], served: readonly string[], keep: number, protectedIds: readonly (string | undefined)[]): string[] {
  const kept = new Set([...served.slice(0, keep), ...protectedIds.filter((id): id is string => id !== undefined), 'latest'])
  return tags.filter((tag) => tag !== '<none>' && !kept.has(tag) && served.includes(tag))
}
