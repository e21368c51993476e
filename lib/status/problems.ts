import type { Problem, StatusFacts } from './report.ts'

/** Renew well before expiry: certbot renews at 30 days, so 14 means renewal has failed for two weeks. */
export const MIN_CERTIFICATE_DAYS = 14
export const MIN_FREE_DISK_PERCENT = 10
export const MAX_BACKUP_AGE_HOURS = 48

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`

/** Absent services make one problem (a stopped stack is one fact); a stopped or unhealthy one makes its own. */
export function serviceProblems(facts: Pick<StatusFacts, 'services'>): Problem[] {
  const absent = facts.services.filter((service) => service.state === 'absent').map((service) => service.name)
  return [
    ...(absent.length === 0 ? [] : [{ check: 'service', message: `no container for ${absent.join(', ')}: start the stack with npx zx scripts/deploy.mts` }]),
    ...facts.services.flatMap((service): Problem[] => {
      if (service.state === 'absent') return []
      if (service.state !== 'running')
        return [{ check: 'service', message: `${service.name} is ${service.state}${service.exitCode === null ? '' : ` (exit code ${service.exitCode})`}: see docker compose logs ${service.name}` }]
      if (service.health === 'unhealthy') return [{ check: 'service', message: `${service.name} is unhealthy: see docker compose logs ${service.name}` }]
      return []
    }),
  ]
}

/** A certificate matters when nginx serves HTTPS; a staging one never belongs on a production server. */
export function certificateProblems(facts: Pick<StatusFacts, 'certificate' | 'nginxMode'>, production: boolean): Problem[] {
  const cert = facts.certificate
  const fix = 'run npx zx scripts/init-ssl.mts'
  const problems: Problem[] = []
  if (facts.nginxMode === 'https' && cert.checked) {
    if (cert.present === false) problems.push({ check: 'certificate', message: `NGINX_MODE=https but there is no certificate for ${cert.domain}: ${fix}` })
    else if (cert.daysLeft === null) problems.push({ check: 'certificate', message: `NGINX_MODE=https but ${cert.note ?? 'the certificate cannot be read'}: ${fix}` })
    else if (cert.daysLeft < 0) problems.push({ check: 'certificate', message: `the certificate for ${cert.domain} has expired (${cert.notAfter}): ${fix} --renew` })
    else if (cert.daysLeft < MIN_CERTIFICATE_DAYS)
      problems.push({ check: 'certificate', message: `the certificate for ${cert.domain} expires in ${plural(cert.daysLeft, 'day')} (renewal should have happened at 30): ${fix} --renew` })
  }
  if (production && cert.ca === 'staging')
    problems.push({ check: 'certificate', message: `the certificate for ${cert.domain} comes from Let's Encrypt's staging CA, which browsers do not trust: set LETSENCRYPT_STAGING=false and ${fix}` })
  return problems
}

export function diskProblems(facts: Pick<StatusFacts, 'disk'>): Problem[] {
  const { project, docker } = facts.disk
  const disks = [
    ...(project === null ? [] : [{ label: 'the project folder', disk: project }]),
    ...(docker === null || docker.sameFilesystem ? [] : [{ label: "Docker's data root", disk: docker }]),
  ]
  return disks
    .filter(({ disk }) => disk.freePercent < MIN_FREE_DISK_PERCENT)
    .map(({ label, disk }) => ({ check: 'disk', message: `only ${disk.freePercent} % free on the filesystem of ${label} (${disk.path}): docker image prune, remove old backups` }))
}

export function backupProblems(facts: Pick<StatusFacts, 'backup'>): Problem[] {
  if (facts.backup === null) return [{ check: 'backup', message: 'no database backup in var/backups: npx zx scripts/backup.mts' }]
  if (facts.backup.ageHours > MAX_BACKUP_AGE_HOURS)
    return [{ check: 'backup', message: `the newest backup (${facts.backup.name}) is ${Math.floor(facts.backup.ageHours)} h old (more than ${MAX_BACKUP_AGE_HOURS} h): npx zx scripts/backup.mts` }]
  return []
}

export function dockerProblems(facts: Pick<StatusFacts, 'docker' | 'composeError'>): Problem[] {
  return [
    ...(facts.docker.reachable ? [] : [{ check: 'docker', message: `Docker is not reachable: ${facts.docker.error ?? 'is dockerd running?'}` }]),
    ...(facts.composeError === null ? [] : [{ check: 'compose', message: `the services of the compose file are unknown: ${facts.composeError}` }]),
  ]
}

/** A stack that is not on one consistent release (a killed run, compose by hand): one problem naming each fix. */
export function driftProblems(facts: Pick<StatusFacts, 'drift'>): Problem[] {
  if (facts.drift.length === 0) return []
  return [{ check: 'drift', message: `the stack is not on one consistent release; npx zx scripts/deploy.mts --converge-only would: ${facts.drift.join('; ')}` }]
}

/** An off-site copy older than this (the job is daily) means the copies stopped. */
export const MAX_OFFSITE_AGE_HOURS = 48
/** The verify job is weekly: a day of slack. */
export const MAX_VERIFY_AGE_HOURS = 8 * 24

/** Off-site copies and verified restores: reported once off-site backups are configured, or once a verify ran. */
export function offsiteProblems(facts: Pick<StatusFacts, 'offsite' | 'verify'>): Problem[] {
  const problems: Problem[] = []
  const last = facts.offsite.last
  if (facts.offsite.configured && last === null) problems.push({ check: 'offsite', message: 'no off-site copy yet: npx zx scripts/backup.mts (after --init-offsite)' })
  else if (facts.offsite.configured && last !== null && last.ageHours > MAX_OFFSITE_AGE_HOURS)
    problems.push({ check: 'offsite', message: `the last off-site copy (${last.snapshot}) is ${Math.floor(last.ageHours)} h old (more than ${MAX_OFFSITE_AGE_HOURS} h): see /var/log/aiko-db-backup.log, then npx zx scripts/backup.mts` })
  const verify = facts.verify
  if (verify === null) {
    if (facts.offsite.configured) problems.push({ check: 'verify', message: 'no backup has been proven restorable yet: npx zx scripts/backup.mts --verify' })
  } else if (!verify.ok) problems.push({ check: 'verify', message: `the last restore test failed (${verify.source}): ${verify.detail}` })
  else if (verify.ageHours > MAX_VERIFY_AGE_HOURS)
    problems.push({ check: 'verify', message: `the last verified restore is ${Math.floor(verify.ageHours / 24)} days old (more than ${MAX_VERIFY_AGE_HOURS / 24}): npx zx scripts/backup.mts --verify` })
  return problems
}

/**
 * Alerts that reach nobody are as good as none: a warning, not a problem (the exit code stays
 * what the stack's health says; a server may run without alerts on purpose, e.g. a test box).
 */
export function alertWarnings(facts: Pick<StatusFacts, 'alerts'>): Problem[] {
  if (facts.alerts.channels.length > 0) return []
  return [{ check: 'alerts', message: 'alerts go nowhere (no e-mail nor webhook configured): set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, run npx zx scripts/deploy.mts, then npx zx scripts/status.mts --test-alert' }]
}

/** Every problem, in the order an operator fixes them: Docker, services, certificate, disk, backup. */
export function judgeProblems(facts: StatusFacts, options: { production: boolean }): Problem[] {
  return [...dockerProblems(facts), ...serviceProblems(facts), ...driftProblems(facts), ...certificateProblems(facts, options.production), ...diskProblems(facts), ...backupProblems(facts), ...offsiteProblems(facts)]
}
