import { z } from 'zod'

export type AppEnv = 'production' | 'development'

const INIT_ENV = 'npx zx scripts/init-env.mts'
const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
/** Passwords that end up inside a postgres:// or redis:// URL. */
const URL_SAFE = /^[A-Za-z0-9._~-]+$/
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/
const PLACEHOLDER = /^(change[-_ ]?me.*|x{3,}|todo|tbd|secret|password|motdepasse|your[-_].*|votre[-_].*|<.*>)$/i
const EXAMPLE_DOMAIN = /(^|\.)example\.(com|org|net|fr)$/
const BOOLEAN = ['true', 'false'] as const
/** The restic back-ends the guide documents: SFTP, REST server, S3-compatible, or a local path (a mounted disk). */
/**
 * Where the Swarm nodes pull the release images: host[:port][/path], lower case, no scheme, no
 * tag, no trailing slash (the toolkit appends /aiko-backend:<release>).
 */
const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const RESTIC_REPOSITORY = /^(sftp:[^\s]+|rest:https?:\/\/[^\s]+|s3:[^\s]+|b2:[^\s]+|azure:[^\s]+|gs:[^\s]+|swift:[^\s]+|rclone:[^\s]+|\/[^\s]*)$/

const required = (name: string, fix: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? `${name} is missing: ${fix}` : `${name} must be text`),
})

const port = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535, `${name} must be a port number between 1 and 65535 (default ${fallback})`)
    .transform(Number)

const count = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 32, `${name} must be a whole number from 1 to 32 (default ${fallback})`)
    .transform(Number)

const flag = (name: string, fallback: 'true' | 'false') =>
  z
    .enum(BOOLEAN, { error: `${name} must be true or false (default ${fallback})` })
    .default(fallback)
    .transform((v) => v === 'true')

const isPlaceholder = (appEnv: AppEnv, value: string): boolean => appEnv === 'production' && PLACEHOLDER.test(value.trim())

/** A secret init-env generates: long enough and not a placeholder in production. */
const secret = (name: string, appEnv: AppEnv, minLength: number, charset?: RegExp) =>
  z
    .string(required(name, `run \`${INIT_ENV}\` to generate it`))
    .superRefine((value, ctx) => {
      if (isPlaceholder(appEnv, value))
        ctx.addIssue({ code: 'custom', message: `${name} still holds a placeholder value: empty it and run \`${INIT_ENV}\` to generate one` })
      else if (appEnv === 'production' && value.length < minLength)
        ctx.addIssue({ code: 'custom', message: `${name} is too short (${value.length} characters, at least ${minLength} in production): empty it and run \`${INIT_ENV}\` to generate one` })
      if (charset !== undefined && !charset.test(value))
        ctx.addIssue({ code: 'custom', message: `${name} may only contain A-Z a-z 0-9 . _ ~ - (it is used inside a connection URL): empty it and run \`${INIT_ENV}\` to generate one` })
    })

const email = (name: string, appEnv: AppEnv) =>
  z
    .string(required(name, `set it with \`${INIT_ENV} --set ${name}=you@your-domain\``))
    .refine((v) => EMAIL.test(v), `${name} must be an e-mail address such as admin@your-domain.fr`)
    .refine((v) => appEnv !== 'production' || !EXAMPLE_DOMAIN.test(v.split('@')[1] ?? ''), `${name} uses an example domain: give a real address`)

/** The whole AI-KO .env. Production is strict (no placeholder, no weak secret); development is lenient. */
export function envSchema(appEnv: AppEnv) {
  return z
    .object({
      APP_ENV: z.enum(['production', 'development'], { error: 'APP_ENV must be production or development (default production)' }).default('production'),
      TZ: z.string().default('Europe/Paris').refine((v) => /^(UTC|[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+)$/.test(v), 'TZ must be a time zone name such as Europe/Paris or UTC'),
      DOMAIN: z
        .string(required('DOMAIN', `set it with \`${INIT_ENV} --set DOMAIN=aiko.your-domain.fr\``))
        .refine((v) => HOSTNAME.test(v), 'DOMAIN must be a bare lower-case host name such as aiko.your-domain.fr (no http://, no path, no port)')
        .refine((v) => appEnv !== 'production' || !EXAMPLE_DOMAIN.test(v), 'DOMAIN is an example domain: set the domain whose DNS points to this server'),
      DOMAIN_WWW: flag('DOMAIN_WWW', 'true'),
      LETSENCRYPT_EMAIL: email('LETSENCRYPT_EMAIL', appEnv),
      LETSENCRYPT_STAGING: flag('LETSENCRYPT_STAGING', 'false'),
      ACME_DIRECTORY_URL: z.url({ protocol: /^https$/, error: 'ACME_DIRECTORY_URL must be an https:// URL of an ACME directory, or empty for Let\'s Encrypt' }).optional(),
      NGINX_MODE: z.enum(['http', 'https'], { error: 'NGINX_MODE must be http or https (init-ssl switches it to https)' }).default('http'),
      DEPLOY_TARGET: z
        .enum(['compose', 'swarm'], { error: 'DEPLOY_TARGET must be compose (one server, the default) or swarm (docker stack deploy on a Swarm; REGISTRY then names where the nodes pull the images)' })
        .default('compose'),
      REGISTRY: z
        .string()
        .refine(
          (v) => REGISTRY.test(v),
          'REGISTRY must be an image registry and path such as registre.mon-ecole.fr:5000/aiko (host, optional :port and /path; no http://, no tag, no trailing /)',
        )
        .optional(),
      HTTP_BIND: z.union([z.ipv4(), z.ipv6()], { error: 'HTTP_BIND must be an IP address such as 0.0.0.0 (all) or 127.0.0.1' }).default('0.0.0.0'),
      HTTP_BIND6: z
        .string()
        .default('[::]')
        .refine(
          (v) => (v.startsWith('[') && v.endsWith(']') && z.ipv6().safeParse(v.slice(1, -1)).success) || z.ipv4().safeParse(v).success,
          'HTTP_BIND6 must be an IPv6 address in brackets such as [::] (all, the default) or [::1]; on a server without IPv6, the same IPv4 address as HTTP_BIND',
        ),
      HTTP_PORT: port('HTTP_PORT', '80'),
      HTTPS_PORT: port('HTTPS_PORT', '443'),
      UPLOAD_MAX_SIZE: z.string().default('20m').refine((v) => /^\d+[kKmMgG]?$/.test(v), 'UPLOAD_MAX_SIZE must be a size such as 20m, 512k or 1g'),
      POSTGRES_USER: z.string().default('aiko').refine((v) => IDENTIFIER.test(v), 'POSTGRES_USER must be lower-case letters, digits and _ (default aiko)'),
      POSTGRES_DB: z.string().default('aiko').refine((v) => IDENTIFIER.test(v), 'POSTGRES_DB must be lower-case letters, digits and _ (default aiko)'),
      POSTGRES_PASSWORD: secret('POSTGRES_PASSWORD', appEnv, 16, URL_SAFE),
      REDIS_PASSWORD: secret('REDIS_PASSWORD', appEnv, 16, URL_SAFE),
      SECRET_KEY: secret('SECRET_KEY', appEnv, 32),
      JWT_SECRET_KEY: secret('JWT_SECRET_KEY', appEnv, 32),
      ADMIN_EMAIL: email('ADMIN_EMAIL', appEnv),
      ADMIN_PASSWORD: z
        .string()
        .refine((v) => appEnv !== 'production' || v.length >= 12, 'ADMIN_PASSWORD is shorter than 12 characters: choose a longer one, or empty it and init-db generates one')
        .refine((v) => !isPlaceholder(appEnv, v), 'ADMIN_PASSWORD still holds a placeholder value: choose a real one, or empty it and init-db generates one')
        .optional(),
      NEXT_PUBLIC_API_URL: z
        .string()
        .default('/api')
        .refine((v) => /^\/[^\s]*$/.test(v) || /^https?:\/\/[^\s]+$/.test(v), 'NEXT_PUBLIC_API_URL must be a path such as /api or a full http(s):// URL'),
      GUNICORN_WORKERS: count('GUNICORN_WORKERS', '2'),
      CELERY_CONCURRENCY: count('CELERY_CONCURRENCY', '2'),
      GRAFANA_ADMIN_USER: z.string().default('admin').refine((v) => /^[A-Za-z0-9._-]+$/.test(v), 'GRAFANA_ADMIN_USER must be letters, digits, . _ or - (default admin)'),
      GRAFANA_ADMIN_PASSWORD: secret('GRAFANA_ADMIN_PASSWORD', appEnv, 16),
      GRAFANA_PORT: port('GRAFANA_PORT', '3001'),
      RESTIC_REPOSITORY: z
        .string()
        .refine((v) => RESTIC_REPOSITORY.test(v), 'RESTIC_REPOSITORY must be a restic repository such as sftp:user@host:/srv/aiko, rest:https://host/aiko/ or s3:https://host/bucket/aiko (empty: no off-site copy)')
        .optional(),
      RESTIC_PASSWORD: z
        .string()
        .refine((v) => appEnv !== 'production' || v.length >= 16, 'RESTIC_PASSWORD is shorter than 16 characters: empty it and run `npx zx scripts/init-env.mts` to generate one (and keep a copy off the server)')
        .refine((v) => !isPlaceholder(appEnv, v), 'RESTIC_PASSWORD still holds a placeholder value: empty it and run `npx zx scripts/init-env.mts` to generate one')
        .optional(),
      RESTIC_SFTP_COMMAND: z
        .string()
        .refine((v) => /^ssh\s.*\s-s\s+sftp$/.test(v) && !/[\r\n]/.test(v), 'RESTIC_SFTP_COMMAND must be an ssh command ending in -s sftp, such as ssh -i /root/.ssh/aiko_backup -p 23 user@host -s sftp')
        .optional(),
      AWS_ACCESS_KEY_ID: z.string().optional(),
      AWS_SECRET_ACCESS_KEY: z.string().optional(),
      RESTIC_KEEP_DAILY: count('RESTIC_KEEP_DAILY', '7'),
      RESTIC_KEEP_WEEKLY: count('RESTIC_KEEP_WEEKLY', '4'),
      RESTIC_KEEP_MONTHLY: count('RESTIC_KEEP_MONTHLY', '6'),
      ALERT_SMTP_HOST: z
        .string()
        .refine((v) => HOSTNAME.test(v) || /^[a-z0-9-]{1,63}$/.test(v) || z.ipv4().safeParse(v).success, 'ALERT_SMTP_HOST must be a host name such as smtp.your-provider.fr or an IPv4 address (no port: see ALERT_SMTP_PORT)')
        .optional(),
      ALERT_SMTP_PORT: port('ALERT_SMTP_PORT', '587'),
      ALERT_SMTP_TLS: z.enum(['starttls', 'tls', 'none'], { error: 'ALERT_SMTP_TLS must be starttls (port 587), tls (port 465) or none (a relay on a trusted network) (default starttls)' }).default('starttls'),
      ALERT_SMTP_USER: z.string().refine((v) => !/[\s]/.test(v), 'ALERT_SMTP_USER must not contain spaces').optional(),
      ALERT_SMTP_PASSWORD: z.string().refine((v) => !/[\r\n]/.test(v), 'ALERT_SMTP_PASSWORD must be on one line').optional(),
      ALERT_EMAIL_FROM: z.string().refine((v) => EMAIL.test(v), 'ALERT_EMAIL_FROM must be an e-mail address such as alertes@your-domain.fr').optional(),
      ALERT_EMAIL_TO: z
        .string()
        .refine((v) => v.split(',').every((a) => EMAIL.test(a.trim())), 'ALERT_EMAIL_TO must be one e-mail address or several separated by commas, such as admin@your-domain.fr,astreinte@your-domain.fr')
        .optional(),
      ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'ALERT_WEBHOOK_URL must be an http:// or https:// URL that accepts Alertmanager\'s JSON POST (empty: no webhook)' }).optional(),
      ALERT_HEARTBEAT_URL: z.url({ protocol: /^https?$/, error: 'ALERT_HEARTBEAT_URL must be the http:// or https:// ping URL of a dead man\'s switch such as https://hc-ping.com/<uuid> (empty: no heartbeat)' }).optional(),
    })
}

export type AikoEnv = z.output<ReturnType<typeof envSchema>>

/** Variables whose values are secrets: masked in every output. */
export const SECRET_NAMES = ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY', 'JWT_SECRET_KEY', 'ADMIN_PASSWORD', 'GRAFANA_ADMIN_PASSWORD', 'RESTIC_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'ALERT_SMTP_PASSWORD'] as const

export interface EnvProblem {
  name: string
  message: string
}

export type EnvValidation = { ok: true; env: AikoEnv } | { ok: false; problems: EnvProblem[] }

/** Validates the raw variables (empty means unset, as in Compose's ${X:-default}); reports every problem at once. */
export function validateEnv(raw: Readonly<Record<string, string | undefined>>): EnvValidation {
  const input: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) if (value !== undefined && value !== '') input[name] = value
  const appEnv: AppEnv = input['APP_ENV'] === 'development' ? 'development' : 'production'
  const result = envSchema(appEnv).safeParse(input)
  const problems = [
    ...(result.success ? [] : result.error.issues.map((issue) => ({ name: String(issue.path[0] ?? 'env'), message: issue.message }))),
    ...crossFieldProblems(input),
  ]
  if (result.success && problems.length === 0) return { ok: true, env: result.data }
  return { ok: false, problems }
}

/** Rules between variables; checked on the raw values so they are reported with every other problem. */
function crossFieldProblems(input: Readonly<Record<string, string>>): EnvProblem[] {
  const problems: EnvProblem[] = []
  if ((input['HTTP_PORT'] ?? '80') === (input['HTTPS_PORT'] ?? '443'))
    problems.push({ name: 'HTTPS_PORT', message: 'HTTPS_PORT must differ from HTTP_PORT' })
  if (input['SECRET_KEY'] !== undefined && input['SECRET_KEY'] === input['JWT_SECRET_KEY'])
    problems.push({ name: 'JWT_SECRET_KEY', message: `JWT_SECRET_KEY must differ from SECRET_KEY: empty it and run \`${INIT_ENV}\` to generate one` })
  if (input['RESTIC_REPOSITORY'] !== undefined && input['RESTIC_PASSWORD'] === undefined)
    problems.push({ name: 'RESTIC_PASSWORD', message: `RESTIC_PASSWORD is missing while RESTIC_REPOSITORY is set: run \`${INIT_ENV}\` to generate it (and keep a copy off the server: without it the off-site copies cannot be read)` })
  if ((input['AWS_ACCESS_KEY_ID'] === undefined) !== (input['AWS_SECRET_ACCESS_KEY'] === undefined))
    problems.push({ name: input['AWS_ACCESS_KEY_ID'] === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY', message: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together (the S3 credentials of RESTIC_REPOSITORY): set both or neither' })
  if (input['DEPLOY_TARGET'] === 'swarm' && input['REGISTRY'] === undefined)
    problems.push({ name: 'REGISTRY', message: 'REGISTRY is missing while DEPLOY_TARGET=swarm: every node pulls the release images from a registry; set it, e.g. REGISTRY=registre.mon-ecole.fr:5000/aiko (or DEPLOY_TARGET=compose for one server)' })
  problems.push(...alertProblems(input))
  return problems
}

const ALERT_EMAIL_NAMES = ['ALERT_SMTP_HOST', 'ALERT_EMAIL_FROM', 'ALERT_EMAIL_TO'] as const

/** E-mail alerts need a server, a sender and recipients together; a password needs a user. */
function alertProblems(input: Readonly<Record<string, string>>): EnvProblem[] {
  const problems: EnvProblem[] = []
  const set = ALERT_EMAIL_NAMES.filter((name) => input[name] !== undefined)
  const emailWanted = set.length > 0 || input['ALERT_SMTP_USER'] !== undefined || input['ALERT_SMTP_PASSWORD'] !== undefined
  if (emailWanted)
    for (const name of ALERT_EMAIL_NAMES)
      if (input[name] === undefined)
        problems.push({ name, message: `${name} is missing: e-mail alerts need ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO together (or empty all ALERT_SMTP_* and ALERT_EMAIL_* for no e-mail)` })
  if ((input['ALERT_SMTP_USER'] === undefined) !== (input['ALERT_SMTP_PASSWORD'] === undefined))
    problems.push({ name: input['ALERT_SMTP_USER'] === undefined ? 'ALERT_SMTP_USER' : 'ALERT_SMTP_PASSWORD', message: 'ALERT_SMTP_USER and ALERT_SMTP_PASSWORD go together (SMTP authentication): set both or neither' })
  // Alertmanager speaks implicit TLS on port 465 and only there.
  const smtpPort = input['ALERT_SMTP_PORT'] ?? '587'
  if (input['ALERT_SMTP_TLS'] === 'tls' && smtpPort !== '465')
    problems.push({ name: 'ALERT_SMTP_TLS', message: `ALERT_SMTP_TLS=tls (implicit TLS) needs ALERT_SMTP_PORT=465, not ${smtpPort}: set the port to 465, or use starttls on port 587` })
  if (input['ALERT_SMTP_TLS'] !== 'tls' && smtpPort === '465')
    problems.push({ name: 'ALERT_SMTP_TLS', message: 'ALERT_SMTP_PORT=465 is implicit TLS: set ALERT_SMTP_TLS=tls' })
  if (input['ALERT_SMTP_USER'] !== undefined && input['ALERT_SMTP_TLS'] === 'none')
    problems.push({ name: 'ALERT_SMTP_TLS', message: 'ALERT_SMTP_TLS=none with ALERT_SMTP_USER would send the SMTP password in clear: use starttls (port 587) or tls (port 465)' })
  return problems
}
