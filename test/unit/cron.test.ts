import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { backupCronJob, verifyCronFile, verifyCronJob } from '../../lib/backup/cron.ts'
import { installCronJob } from '../../lib/cron/install.ts'
import { cronEnvironment, cronMinute, renderCronFile } from '../../lib/cron/job.ts'
import { SSL_RENEW_JOB } from '../../lib/ssl/cron.ts'
import type { Output } from '../../lib/ui/output.ts'

const input = { minute: 42, projectDir: '/srv/aiko', nodeBinDir: '/opt/node/bin', envPath: '.env', logFile: '/var/log/aiko-db-backup.log' }

function collect(): { output: Output; lines: string[] } {
  const lines: string[] = []
  const push = (message: string) => void lines.push(message)
  return { lines, output: { info: push, success: push, warn: push, error: push, step: (title, work) => (push(title), work()) } }
}

describe('cron jobs share one renderer', () => {
  it('renders the whole renewal file as before', () => {
    expect(renderCronFile(SSL_RENEW_JOB, { ...input, minute: 7, logFile: '/var/log/aiko-ssl-renew.log' })).toBe(
      [
        '# AI-KO: certificate renewal, installed by `npx zx scripts/init-ssl.mts --install-cron`.',
        '# Quiet when nothing is due; reloads nginx only when a certificate changed.',
        'SHELL=/bin/sh',
        'PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        "7 3,15 * * * root cd '/srv/aiko' && npx zx scripts/init-ssl.mts --renew --yes --env-path '.env' >> '/var/log/aiko-ssl-renew.log' 2>&1",
        '',
      ].join('\n'),
    )
  })

  it('renders the daily backup at 02:MM with its --keep', () => {
    const file = renderCronFile(backupCronJob(14), input)
    expect(file).toContain("42 2 * * * root cd '/srv/aiko' && npx zx scripts/backup.mts --keep 14 --env-path '.env' >> '/var/log/aiko-db-backup.log' 2>&1\n")
    expect(file).toMatch(/^# AI-KO: daily database backup/)
    expect(backupCronJob(14).logFile).toBe('/var/log/aiko-db-backup.log')
  })

  it('renders the weekly verify on Sundays at 04:MM, in the file beside the daily one', () => {
    const file = renderCronFile(verifyCronJob(), { ...input, minute: 9, logFile: verifyCronJob().logFile })
    expect(file).toContain("9 4 * * 0 root cd '/srv/aiko' && npx zx scripts/backup.mts --verify --env-path '.env' >> '/var/log/aiko-backup-verify.log' 2>&1\n")
    expect(verifyCronFile('/etc/cron.d/aiko-db-backup')).toBe('/etc/cron.d/aiko-db-backup-verify')
    expect(cronMinute(verifyCronJob(), file)).toBe(9)
    // A line of another day-of-week field is not this job's: its minute is not taken over.
    expect(cronMinute(verifyCronJob(), '59 4 * * * root true\n9 4 * * 0 root x\n')).toBe(9)
  })

  it('keeps the minute of its own job only', () => {
    const backup = renderCronFile(backupCronJob(14), input)
    expect(cronMinute(backupCronJob(14), backup)).toBe(42)
    expect(cronMinute(SSL_RENEW_JOB, renderCronFile(SSL_RENEW_JOB, { ...input, minute: 5 }))).toBe(5)
    for (let i = 0; i < 20; i++) {
      const minute = cronMinute(SSL_RENEW_JOB, backup)
      expect(minute).toBeGreaterThanOrEqual(0)
      expect(minute).toBeLessThan(60)
    }
  })

  it('passes the stack variables set at install time, nothing else', () => {
    expect(cronEnvironment({ AIKO_VAR_DIR: '/srv/var', COMPOSE_FILE: 'a.yml:b.yml', POSTGRES_PASSWORD: 'secret', COMPOSE_PROJECT_NAME: '' })).toEqual({ AIKO_VAR_DIR: '/srv/var', COMPOSE_FILE: 'a.yml:b.yml' })
    expect(cronEnvironment({ AIKO_VAR_DIR: 'a\nb' })).toEqual({})
    expect(renderCronFile(backupCronJob(3), { ...input, environment: { AIKO_VAR_DIR: '/srv/var' } })).toContain('PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nAIKO_VAR_DIR=/srv/var\n42 2 * * * ')
  })

  it('installs once: a second install changes nothing and says so', async () => {
    const cronFile = join(await mkdtemp(join(tmpdir(), 'aiko-cron-')), 'aiko-db-backup')
    const options = { cronFile, projectDir: '/srv/aiko', nodeBinDir: '/opt/node/bin', envPath: '.env', dryRun: false, environment: {} }
    const first = collect()
    await installCronJob(first.output, backupCronJob(14), options)
    const content = await readFile(cronFile, 'utf8')
    expect((await stat(cronFile)).mode & 0o777).toBe(0o644)
    expect(first.lines.join('\n')).toContain(content.trimEnd())
    const second = collect()
    await installCronJob(second.output, backupCronJob(14), options)
    expect(second.lines[0]).toBe(`${cronFile} is already installed: nothing to change`)
    expect(await readFile(cronFile, 'utf8')).toBe(content)
  })

  it('--dry-run shows the job and writes nothing', async () => {
    const cronFile = join(await mkdtemp(join(tmpdir(), 'aiko-cron-')), 'aiko-db-backup')
    const { output, lines } = collect()
    await installCronJob(output, backupCronJob(14), { cronFile, projectDir: '/srv/aiko', nodeBinDir: '/opt/node/bin', envPath: '.env', dryRun: true, environment: {} })
    expect(lines[0]).toBe(`[dry-run] would write ${cronFile}`)
    await expect(stat(cronFile)).rejects.toThrow()
  })
})
