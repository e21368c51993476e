import { describe, expect, it } from 'vitest'
import { listImageTags, pruneBuildLeftovers, reclaimed, removeImages } from '../../lib/docker/containers.ts'
import { releaseImages, releasesToPrune } from '../../lib/release/images.ts'
import { RELEASE_ID_PATTERN, releaseId } from '../../lib/release/log.ts'

const id = (day: number, sha = 'abc1234') => `202611${String(day).padStart(2, '0')}-120000-${sha}`

describe('releasesToPrune', () => {
  it('keeps the newest served releases and drops the older ones', () => {
    const served = [id(5), id(4), id(3), id(2)]
    expect(releasesToPrune([id(2), id(3), id(4), id(5)], served, 2, [])).toEqual([id(2), id(3)])
  })

  it('drops releases that never served (a failed or killed deploy), whatever their age', () => {
    expect(releasesToPrune([id(1), id(6, 'dead000'), id(5)], [id(5), id(1)], 5, [id(5)])).toEqual([id(6, 'dead000')])
  })

  it('never drops the current release, the rollback target, or a tag the toolkit did not make', () => {
    const tags = ['latest', 'naive', 'v1.2', '<none>', id(1), id(2), id(3)]
    expect(releasesToPrune(tags, [id(3), id(2), id(1)], 1, [id(1), id(2)])).toEqual([])
  })

  it('recognises every id releaseId makes, with or without git', () => {
    const now = new Date('2026-11-26T03:04:05Z')
    expect(releaseId('0123456789abcdef', now)).toMatch(RELEASE_ID_PATTERN)
    expect(releaseId('nogit00', now)).toMatch(RELEASE_ID_PATTERN)
    expect(releaseImages(id(1))).toEqual([`aiko-backend:${id(1)}`, `aiko-frontend:${id(1)}`])
  })
})

describe('image commands', () => {
  const argv = (command: { argv: readonly string[] }) => command.argv.join(' ')

  it('lists the tags of a repository, or only those Compose v2 built for one project', () => {
    expect(argv(listImageTags('aiko-backend'))).toBe('docker image ls aiko-backend --format {{.Tag}}')
    expect(argv(listImageTags('aiko-backend', 'aiko'))).toBe('docker image ls aiko-backend --filter label=com.docker.compose.project=aiko --format {{.Tag}}')
  })

  it('prunes build leftovers older than a day, never a tagged image, and reads what was freed', () => {
    expect(pruneBuildLeftovers('24h').map(argv)).toEqual(['docker builder prune --force --filter until=24h', 'docker image prune --force --filter until=24h'])
    expect(reclaimed('Deleted build cache objects:\nabc\n\nTotal reclaimed space: 1.21GB\n')).toBe('1.21GB')
    expect(reclaimed('Total reclaimed space: 0B\n')).toBeUndefined()
    expect(reclaimed('')).toBeUndefined()
  })

  it('removes the images it is given', () => {
    expect(argv(removeImages(releaseImages(id(1))))).toBe(`docker image rm aiko-backend:${id(1)} aiko-frontend:${id(1)}`)
  })
})
