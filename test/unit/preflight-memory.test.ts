import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { memLimits, memoryCheck, parseMeminfo } from '../../lib/release/preflight.ts'

const MiB = 1024 ** 2
const MEMINFO = ['MemTotal:        2014232 kB', 'MemFree:          101200 kB', 'MemAvailable:     716800 kB', 'SwapTotal:       2097148 kB', 'SwapFree:        1048576 kB', ''].join('\n')

describe('memory pre-check', () => {
  it('reads MemAvailable and SwapFree, not MemFree', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ availableBytes: 700 * MiB, swapFreeBytes: 1024 * MiB })
    expect(parseMeminfo('MemAvailable:  1024 kB\n')).toEqual({ availableBytes: 1024 * 1024, swapFreeBytes: 0 })
    expect(() => parseMeminfo('MemTotal: 1 kB\n')).toThrow('/proc/meminfo has no MemAvailable line')
  })

  it('reads the memory limits of the shipped compose file', async () => {
    const limits = memLimits(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8'))
    expect({ backend: limits['backend'], frontend: limits['frontend'], 'celery-worker': limits['celery-worker'] }).toEqual({ backend: 512 * MiB, frontend: 384 * MiB, 'celery-worker': 512 * MiB })
    expect(memLimits('services:\n  a:\n    image: x\n    mem_limit: 1g\n  b:\n    mem_limit: "64m"\nvolumes:\n  c:\n    mem_limit: 9m\n')).toEqual({ a: 1024 ** 3, b: 64 * MiB })
  })

  it('passes when available memory and free swap hold the new release, else names the shortfall and the fix', () => {
    const need = { backend: 512 * MiB, frontend: 384 * MiB, 'celery-worker': 512 * MiB }
    expect(memoryCheck({ availableBytes: 700 * MiB, swapFreeBytes: 1024 * MiB }, need)).toEqual({
      name: 'memory',
      ok: true,
      detail: '700 MiB available + 1024 MiB free swap; the new release beside the old one may take 1408 MiB (backend 512 MiB + frontend 384 MiB + celery-worker 512 MiB)',
    })
    expect(memoryCheck({ availableBytes: 700 * MiB, swapFreeBytes: 0 }, need)).toEqual({
      name: 'memory',
      ok: false,
      detail: '700 MiB available + 0 MiB free swap; the new release beside the old one may take 1408 MiB (backend 512 MiB + frontend 384 MiB + celery-worker 512 MiB): short by 708 MiB; add swap (guide, section 1) or stop what else runs on the server',
    })
    expect(memoryCheck({ availableBytes: 100 * MiB, swapFreeBytes: 0 }, {}).ok).toBe(false)
  })
})
