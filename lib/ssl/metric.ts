import type { CertificateInfo } from './certificate.ts'

export const METRIC_FILE = 'aiko_ssl.prom'

/** node-exporter textfile format: the expiry time Prometheus alerts on (see monitoring/prometheus/alerts.yml). */
export function renderExpiryMetric(domain: string, info: CertificateInfo): string {
  const label = domain.replace(/["\\\n]/g, '')
  return [
    '# HELP aiko_ssl_certificate_expiry_seconds Expiry of the served TLS certificate, Unix time.',
    '# TYPE aiko_ssl_certificate_expiry_seconds gauge',
    `aiko_ssl_certificate_expiry_seconds{domain="${label}",staging="${info.staging}"} ${Math.floor(info.notAfter.getTime() / 1000)}`,
    '',
  ].join('\n')
}
