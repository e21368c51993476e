import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { alertmanagerReload, postAlerts, writeAlertmanagerConfig, type AlertsContext } from '../../lib/alerts/apply.ts'
import { renderAlertmanagerConfig, type AlertEnv } from '../../lib/alerts/config.ts'
import type { Command, CommandResult } from '../../lib/exec/executor.ts'
import type { Output } from '../../lib/ui/output.ts'

const TARGET = { base: ['docker', 'compose'], projectDir: '/srv/aiko', envFile: '/srv/aiko/.env', project: 'aiko', env: {} }
const MAIL: AlertEnv = {
  DOMAIN: 'aiko.test',
  ALERT_SMTP_HOST: 'smtp.aiko.test',
  ALERT_SMTP_PORT: 587,
  ALERT_SMTP_TLS: 'starttls',
  ALERT_SMTP_USER: 'alertes',
  ALERT_SMTP_PASSWORD: 'pw-of-the-file',
  ALERT_EMAIL_FROM: 'alertes@aiko.test',
  ALERT_EMAIL_TO: 'ops@aiko.test',
}

/** Alertmanager "running" as container am1 when `running`; records every command. */
function context(varDir: string, options: { running: boolean; dryRun?: boolean }) {
  const commands: string[][] = []
  const result = (stdout: string): CommandResult => ({ stdout, stderr: '', exitCode: 0, skipped: false })
  const ctx: AlertsContext = {
    varDir,
    target: TARGET,
    output: { info: () => undefined } as unknown as Output,
    executor: {
      dryRun: options.dryRun === true,
      run: async (command: Command) => (commands.push([...command.argv]), result('')),
      probe: async (command: Command) => (commands.push([...command.argv]), result(options.running ? 'am1\n' : '')),
    },
  }
  return { ctx, commands }
}

describe('writeAlertmanagerConfig', () => {
  let varDir = ''
  beforeEach(async () => void (varDir = await mkdtemp(join(tmpdir(), 'aiko-am-'))))
  afterEach(() => rm(varDir, { recursive: true, force: true }))

  it('writes the config and the password file (0640, the password alone, no line break), reloads a running Alertmanager once, then changes nothing', async () => {
    const { ctx, commands } = context(varDir, { running: true })
    expect(await writeAlertmanagerConfig(ctx, MAIL)).toBe('reloaded')
    const dir = join(varDir, 'alertmanager')
    expect((await readdir(dir)).sort()).toEqual(['alertmanager.yml', 'smtp-password'])
    expect(await readFile(join(dir, 'alertmanager.yml'), 'utf8')).toBe(renderAlertmanagerConfig(MAIL))
    expect(await readFile(join(dir, 'smtp-password'), 'utf8')).toBe('pw-of-the-file')
    for (const file of ['alertmanager.yml', 'smtp-password']) expect(((await stat(join(dir, file))).mode & 0o777).toString(8), file).toBe('640')
    expect(commands).toEqual([
      ['docker', 'ps', '-q', '--filter', 'label=com.docker.compose.project=aiko', '--filter', 'label=com.docker.compose.oneoff=False', '--filter', 'label=com.docker.compose.service=alertmanager'],
      ['docker', 'exec', 'am1', 'wget', '-q', '-O', '/dev/null', '--post-data=', 'http://127.0.0.1:9093/-/reload'],
    ])
    expect(await writeAlertmanagerConfig(ctx, MAIL)).toBe('unchanged')
    expect(commands).toHaveLength(2)
  })

  it('removes the password file when SMTP authentication goes; written only when Alertmanager is stopped; nothing in a dry run', async () => {
    expect(await writeAlertmanagerConfig(context(varDir, { running: false }).ctx, MAIL)).toBe('written')
    const { ALERT_SMTP_USER: _user, ALERT_SMTP_PASSWORD: _password, ...noAuth } = MAIL
    expect(await writeAlertmanagerConfig(context(varDir, { running: false }).ctx, noAuth)).toBe('written')
    expect(await readdir(join(varDir, 'alertmanager'))).toEqual(['alertmanager.yml'])
    const other = await mkdtemp(join(tmpdir(), 'aiko-am-dry-'))
    try {
      const dry = context(other, { running: true, dryRun: true })
      expect(await writeAlertmanagerConfig(dry.ctx, MAIL)).toBe('planned')
      expect(await readdir(other)).toEqual([])
      expect(dry.commands).toEqual([])
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })
})

describe('Alertmanager commands', () => {
  it('reload and post alerts inside the container (nothing is published)', () => {
    expect(alertmanagerReload('am1')).toMatchObject({ argv: ['docker', 'exec', 'am1', 'wget', '-q', '-O', '/dev/null', '--post-data=', 'http://127.0.0.1:9093/-/reload'], mutates: true })
    expect(postAlerts('am1', '[{"labels":{}}]')).toMatchObject({
      argv: ['docker', 'exec', 'am1', 'wget', '-q', '-O', '-', '--header=Content-Type: application/json', '--post-data=[{"labels":{}}]', 'http://127.0.0.1:9093/api/v2/alerts'],
      mutates: true,
    })
  })
})
