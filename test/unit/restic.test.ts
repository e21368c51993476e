import { describe, expect, it } from 'vitest'
import { differingNames, repoFromEnvironment } from '../../lib/backup/disaster.ts'
import { repositoryLabel, restoreUploadsCommands } from '../../lib/backup/offsite.ts'
import {
  isMissingRepository,
  parseBackupSummary,
  parseSnapshots,
  pickSnapshot,
  resticBackup,
  resticCatConfig,
  resticCheck,
  resticForget,
  resticInit,
  resticRepo,
  resticRestore,
  resticSnapshots,
  resticUnlock,
} from '../../lib/backup/restic.ts'
import { formatArgv } from '../../lib/exec/executor.ts'
import { ToolkitError } from '../../lib/errors.ts'

const line = (command: { argv: readonly string[] }) => formatArgv(command.argv)
const PASSWORD = 'Zq8wR2vL5nT1kP9xC3mB7hJ4gF6dS0aQ'
const sftp = resticRepo({
  RESTIC_REPOSITORY: 'sftp:restic@backup.example.net:/srv/restic/aiko',
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_SFTP_COMMAND: 'ssh -i /root/.ssh/aiko_backup -p 23 restic@backup.example.net -s sftp',
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  RESTIC_KEEP_DAILY: 7,
  RESTIC_KEEP_WEEKLY: 4,
  RESTIC_KEEP_MONTHLY: 6,
})
const s3 = resticRepo({ RESTIC_REPOSITORY: 's3:https://s3.example.net/bucket/aiko', RESTIC_PASSWORD: PASSWORD, RESTIC_SFTP_COMMAND: undefined, AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 'shh-s3-secret' })
if (sftp === undefined || s3 === undefined) throw new Error('fixtures')
const SFTP_OPTION = "restic --option 'sftp.command=ssh -i /root/.ssh/aiko_backup -p 23 restic@backup.example.net -s sftp'"

describe('restic command builders', () => {
  it('every command, whole', () => {
    expect(line(resticInit(sftp))).toBe(`${SFTP_OPTION} init`)
    expect(line(resticCatConfig(s3))).toBe('restic cat config')
    expect(line(resticUnlock(sftp))).toBe(`${SFTP_OPTION} unlock`)
    expect(line(resticBackup(sftp, '/srv/aiko/var/offsite-set', 'aiko.fr'))).toBe(`${SFTP_OPTION} backup --json --tag aiko --host aiko.fr /srv/aiko/var/offsite-set`)
    expect(line(resticForget(sftp, 'aiko.fr'))).toBe(`${SFTP_OPTION} forget --tag aiko --host aiko.fr --group-by host,tags --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune`)
    expect(line(resticSnapshots(s3, 'aiko.fr'))).toBe('restic snapshots --json --tag aiko --host aiko.fr')
    expect(line(resticSnapshots(s3, undefined))).toBe('restic snapshots --json --tag aiko')
    expect(line(resticCheck(s3))).toBe('restic check')
    expect(line(resticRestore(s3, 'ab'.repeat(32), '/srv/aiko/var/offsite-restore'))).toBe(`restic restore ${'ab'.repeat(32)} --target /srv/aiko/var/offsite-restore --verify`)
  })

  it('the password and the S3 keys go in the environment, never in argv', () => {
    for (const command of [resticInit(s3), resticBackup(s3, '/x', 'h'), resticRestore(s3, 'a', '/t')]) {
      expect(command.argv.join(' ')).not.toContain(PASSWORD)
      expect(command.argv.join(' ')).not.toContain('shh-s3-secret')
      expect(command.env).toEqual({ RESTIC_REPOSITORY: 's3:https://s3.example.net/bucket/aiko', RESTIC_PASSWORD: PASSWORD, AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 'shh-s3-secret' })
    }
    expect(resticCheck(s3).mutates).toBe(false)
    expect(resticBackup(s3, '/x', 'h').mutates).toBe(true)
  })

  it('no repository, no off-site copy', () => {
    expect(resticRepo({ RESTIC_REPOSITORY: undefined, RESTIC_PASSWORD: PASSWORD, RESTIC_SFTP_COMMAND: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined })).toBeUndefined()
  })

  it('puts uploads back through the stopped backend, then gives them the volume owner', () => {
    expect(restoreUploadsCommands({ id: 'c0ffee', image: 'aiko-backend:r2' }, '/srv/aiko/var/offsite-restore/set/uploads').map(line)).toEqual([
      'docker cp /srv/aiko/var/offsite-restore/set/uploads/. c0ffee:/app/uploads',
      `docker run --rm --volumes-from c0ffee --user 0 --network none --entrypoint sh aiko-backend:r2 -c 'chown -R "$(stat -c %u:%g /app/uploads)" /app/uploads'`,
    ])
  })
})

describe('restic output', () => {
  const snapshot = (id: string, time: string) => ({ id: id.repeat(64 / id.length), short_id: id.repeat(8 / id.length), time, hostname: 'aiko.fr', paths: ['/srv/aiko/var/offsite-set'], tags: ['aiko'] })

  it('reads snapshots and picks latest or an id prefix', () => {
    const list = parseSnapshots(JSON.stringify([snapshot('a', '2026-11-30T02:10:00Z'), snapshot('b', '2026-12-01T02:10:00Z'), snapshot('c', '2026-11-29T02:10:00Z')]))
    expect(pickSnapshot(list, 'latest')?.short_id).toBe('bbbbbbbb')
    expect(pickSnapshot(list, 'cccccccc')?.time).toBe('2026-11-29T02:10:00Z')
    expect(pickSnapshot(list, 'ccc')).toBeUndefined()
    expect(pickSnapshot(list, 'dddddddd')).toBeUndefined()
    expect(pickSnapshot([], 'latest')).toBeUndefined()
    expect(parseSnapshots('')).toEqual([])
    expect(() => parseSnapshots('[{"id":"x"}]')).toThrow(/unexpected shape/)
  })

  it('finds the snapshot id in the backup summary, and knows a missing repository', () => {
    const out = ['{"message_type":"status","percent_done":0.5}', '{"message_type":"summary","files_new":1,"snapshot_id":"00ff55e3"}', ''].join('\n')
    expect(parseBackupSummary(out)).toBe('00ff55e3')
    expect(() => parseBackupSummary('{"message_type":"status"}')).toThrow(/no summary line/)
    expect(isMissingRepository('Fatal: unable to open config file: Stat: file does not exist\nIs there a repository at the following location?\nsftp:x')).toBe(true)
    expect(isMissingRepository('Fatal: wrong password or no key found')).toBe(false)
  })

  it('hides a password inside a repository URL', () => {
    expect(repositoryLabel('rest:https://aiko:s3cr3t@backup.example.net/aiko/')).toBe('rest:https://aiko:***@backup.example.net/aiko/')
    expect(repositoryLabel('sftp:restic@host:/srv/aiko')).toBe('sftp:restic@host:/srv/aiko')
  })
})

describe('disaster recovery helpers', () => {
  it('a new server takes the repository from the environment, naming what is missing', () => {
    const repo = repoFromEnvironment({ RESTIC_REPOSITORY: 'sftp:r@h:/x', RESTIC_PASSWORD: PASSWORD, RESTIC_SFTP_COMMAND: '' })
    expect(repo.env).toEqual({ RESTIC_REPOSITORY: 'sftp:r@h:/x', RESTIC_PASSWORD: PASSWORD })
    expect(repo.sftpCommand).toBeUndefined()
    expect(() => repoFromEnvironment({ RESTIC_REPOSITORY: 'sftp:r@h:/x' })).toThrow('RESTIC_PASSWORD is not set, and there is no .env yet to read it from')
    try {
      repoFromEnvironment({})
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ToolkitError)
      expect((error as ToolkitError).message).toBe('RESTIC_REPOSITORY and RESTIC_PASSWORD are not set, and there is no .env yet to read them from')
      expect((error as ToolkitError).exitCode).toBe(2)
    }
  })

  it('names the variables that differ, never their values', () => {
    expect(differingNames({ A: '1', B: '2', C: '3' }, { A: '1', B: 'x', D: '4' })).toEqual(['B', 'C', 'D'])
  })
})
