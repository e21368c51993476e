import { formatBytes, formatDuration } from '../ui/output.ts'
import type { CertificateStatus, DiskStatus, StatusReport } from './report.ts'

export function formatAge(hours: number): string {
  if (hours < 1) return `${Math.max(0, Math.round(hours * 60))} min`
  if (hours < 48) return `${Math.floor(hours)} h`
  return `${Math.floor(hours / 24)} days`
}

function certificateLine(cert: CertificateStatus): string {
  if (!cert.checked || cert.present !== true) return `${cert.domain}: ${cert.note ?? 'none'}`
  if (cert.daysLeft === null || cert.notAfter === null) return `${cert.domain}: ${cert.note ?? 'unreadable'}`
  const issuer = [cert.issuer?.cn, cert.issuer?.o].filter((part): part is string => part !== null && part !== undefined).join(' / ')
  const left = cert.daysLeft < 0 ? 'EXPIRED' : `${cert.daysLeft} days left`
  return `${cert.domain}: ${cert.ca ?? 'unknown CA'}, ${left} (until ${cert.notAfter.slice(0, 10)}), issuer ${issuer || 'unknown'}${cert.note === null ? '' : `, ${cert.note}`}`
}

const diskLine = (disk: DiskStatus): string => `${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.totalBytes)} (${disk.freePercent} %)  ${disk.path}`

/** The compact report of human mode: one block per concern, the problems last. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [`AI-KO status  ${report.time}  project ${report.project}  ${report.domain}  NGINX_MODE=${report.nginxMode}`, '']
  const last = report.release.last
  lines.push(`release      ${report.release.current ?? 'none (never deployed)'}`)
  lines.push(
    `last action  ${
      last === null
        ? 'none'
        : `${last.action} ${last.id} ${last.result} at ${last.time} by ${last.user} in ${formatDuration(last.durationMs)}${last.error === null ? '' : `: ${last.error}`}`
    }`,
  )
  lines.push('', `services${report.docker.reachable ? '' : '     (Docker is not reachable)'}`)
  const width = Math.max(8, ...report.services.map((service) => service.name.length))
  for (const service of report.services)
    lines.push(`  ${service.name.padEnd(width)}  ${service.state.padEnd(10)} ${service.health.padEnd(9)} ${String(service.containers).padStart(2)}  ${service.images.join(', ') || '-'}`)
  if (report.services.length === 0) lines.push('  (none known)')
  lines.push('', `certificate  ${certificateLine(report.certificate)}`)
  lines.push(`disk         project ${report.disk.project === null ? 'unreadable' : diskLine(report.disk.project)}`)
  const docker = report.disk.docker
  lines.push(`             docker  ${docker === null ? 'data root unreadable' : docker.sameFilesystem ? `same filesystem  ${docker.path}` : diskLine(docker)}`)
  const backup = report.backup
  lines.push(`backup       ${backup === null ? 'none' : `${backup.name}, ${backup.time}, ${formatBytes(backup.sizeBytes)}, ${formatAge(backup.ageHours)} old`}`)
  const offsite = report.offsite
  lines.push(`off-site     ${!offsite.configured ? 'not configured (RESTIC_REPOSITORY is empty)' : offsite.last === null ? 'none yet' : `${offsite.last.snapshot} to ${offsite.last.repository}, ${offsite.last.time}, ${formatAge(offsite.last.ageHours)} old`}`)
  const verify = report.verify
  lines.push(`verified     ${verify === null ? 'never (npx zx scripts/backup.mts --verify)' : `${verify.ok ? 'ok' : 'FAILED'}: ${verify.source}, ${verify.time}, ${formatAge(verify.ageHours)} old`}`)
  lines.push(`alerts       ${report.alerts.channels.length === 0 ? 'go nowhere (no ALERT_* channel in .env)' : report.alerts.channels.join('; ')}`)
  lines.push('')
  if (report.problems.length === 0) lines.push('OK: no problem found')
  else lines.push(`${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}:`, ...report.problems.map((problem) => `  - [${problem.check}] ${problem.message}`))
  lines.push(...report.warnings.map((warning) => `warning: [${warning.check}] ${warning.message}`))
  return lines.join('\n')
}
