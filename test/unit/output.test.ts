import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createSignalState } from '../../lib/cli/signals.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { clearSecrets, registerSecrets } from '../../lib/exec/mask.ts'
import { createOutput, logFilesToPrune, openLogFile, wantsPlainOutput } from '../../lib/ui/output.ts'

afterEach(clearSecrets)

function sink(isTTY: boolean) {
  const chunks: string[] = []
  return { chunks, isTTY, write: (chunk: string) => chunks.push(chunk) > 0 }
}

describe('output', () => {
  it('is plain when not a TTY, or when CI or NO_COLOR is set', () => {
    expect(wantsPlainOutput(sink(false), {})).toBe(true)
    expect(wantsPlainOutput(sink(true), { CI: 'true' })).toBe(true)
    expect(wantsPlainOutput(sink(true), { NO_COLOR: '' })).toBe(true)
    expect(wantsPlainOutput(sink(true), {})).toBe(false)
  })

  it('writes timestamped lines, errors to stderr, secrets masked', async () => {
    registerSecrets(['pa55word-long'])
    const stdout = sink(false)
    const stderr = sink(false)
    const out = createOutput({ stdout, stderr, env: {}, now: () => new Date('2026-11-25T10:00:00Z') })
    out.info('using pa55word-long')
    out.error('failed')
    await out.step('migrate', async () => 1)
    await expect(out.step('boom', async () => Promise.reject(new Error('x')))).rejects.toThrow('x')
    expect(stdout.chunks[0]).toBe('2026-11-25T10:00:00.000Z info  using ***\n')
    expect(stdout.chunks[1]).toBe('2026-11-25T10:00:00.000Z step  migrate …\n')
    expect(stdout.chunks[2]).toMatch(/ok    migrate \(\d+ms\)\n$/)
    expect(stderr.chunks).toEqual(['2026-11-25T10:00:00.000Z error failed\n', expect.stringMatching(/fail  boom \(\d+ms\)\n$/)])
  })
})

describe('output with signals and a log file', () => {
  const quiet = { hungUp: false, checkBeforeStep: () => undefined }

  function memoryLog(path = '/var/logs/deploy-20261201-081500.log') {
    const lines: string[] = []
    return { lines, file: { path, write: (text: string) => void lines.push(text), close: () => undefined } }
  }

  it('names the log file in its first line, then writes every line there, plain and masked, even on a terminal', async () => {
    registerSecrets(['pa55word-long'])
    const stdout = sink(true)
    const stderr = sink(true)
    const log = memoryLog()
    const out = createOutput({ stdout, stderr, env: {}, now: () => new Date('2026-12-01T08:15:00Z'), log: () => log.file, signals: quiet })
    out.info('using pa55word-long')
    out.warn('careful')
    expect(stdout.chunks).toEqual(['log: /var/logs/deploy-20261201-081500.log\n', 'using ***\n'])
    expect(stderr.chunks).toEqual(['⚠ careful\n'])
    expect(log.lines).toEqual([
      '2026-12-01T08:15:00.000Z info  log: /var/logs/deploy-20261201-081500.log\n',
      '2026-12-01T08:15:00.000Z info  using ***\n',
      '2026-12-01T08:15:00.000Z warn  careful\n',
    ])
  })

  it('refuses to start a step once a stop is pending, and writes only to the log after SIGHUP', async () => {
    const stdout = sink(false)
    const log = memoryLog()
    const signals = createSignalState()
    const out = createOutput({ stdout, stderr: stdout, env: {}, now: () => new Date('2026-12-01T08:15:00Z'), log: () => log.file, signals })
    await out.step('one', async () => {
      signals.receive('SIGHUP')
      out.info('inside')
    })
    expect(stdout.chunks).toEqual(['2026-12-01T08:15:00.000Z info  log: /var/logs/deploy-20261201-081500.log\n', '2026-12-01T08:15:00.000Z step  one …\n'])
    expect(log.lines.slice(2).map((line) => line.slice(25))).toEqual(['info  inside\n', expect.stringMatching(/^ok    one \(\d+ms\)\n$/)])
    signals.receive('SIGTERM')
    const error = await out.step('two', async () => 2).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolkitError)
    expect((error as ToolkitError).exitCode).toBe(143)
    expect((error as ToolkitError).message).toBe('interrupted by SIGTERM before step «two»: the steps done so far stand; run the same command again to converge')
  })

  it('a stream whose write throws (dead terminal) does not end the run', async () => {
    const broken = { isTTY: false, write: (): boolean => { throw new Error('EIO') } }
    const out = createOutput({ stdout: broken, stderr: broken, env: {}, signals: quiet })
    out.info('lost')
    await expect(out.step('still runs', async () => 7)).resolves.toBe(7)
  })
})

describe('log files', () => {
  it('keeps the newest N of one name, the same-second runs in order, other names untouched', () => {
    const files = ['deploy-20261201-081500.log', 'deploy-20261130-010000.log', 'deploy-20261201-081500-2.log', 'deploy-20261201-081500-10.log', 'deploy-x.log', 'init-db-20200101-000000.log', 'deploy-ssl-20200101-000000.log']
    expect(logFilesToPrune(files, 'deploy', 2)).toEqual(['deploy-20261130-010000.log', 'deploy-20261201-081500.log'])
    expect(logFilesToPrune(files, 'deploy', 50)).toEqual([])
  })

  it('creates a 0600 file per run (a suffix within one second), appends synchronously, prunes on open', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'aiko-logs-')), 'logs')
    const now = new Date('2026-12-01T08:15:00Z')
    const first = openLogFile(dir, 'deploy', now, 2)
    first.write('one\n')
    first.write('two\n')
    expect(first.path).toBe(join(dir, 'deploy-20261201-081500.log'))
    expect((await stat(first.path)).mode & 0o777).toBe(0o600)
    expect(await readFile(first.path, 'utf8')).toBe('one\ntwo\n')
    first.close()
    first.write('after close\n')
    const second = openLogFile(dir, 'deploy', now, 2)
    expect(second.path).toBe(join(dir, 'deploy-20261201-081500-2.log'))
    await writeFile(join(dir, 'other.txt'), '')
    const third = openLogFile(dir, 'deploy', new Date('2026-12-01T08:16:00Z'), 2)
    expect((await readdir(dir)).sort()).toEqual(['deploy-20261201-081500-2.log', 'deploy-20261201-081600.log', 'other.txt'])
    second.close()
    third.close()
    expect(await readFile(first.path, 'utf8').catch(() => 'pruned')).toBe('pruned')
  })
})
