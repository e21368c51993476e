import { describe, expect, it } from 'vitest'
import { validateEnv } from '../../lib/env/schema.ts'
import { problemsFor, validEnv } from './helpers/valid-env.ts'

describe('validateEnv', () => {
  it('accepts a complete production env and applies the defaults', () => {
    const result = validateEnv(validEnv())
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.env).toMatchObject({
      APP_ENV: 'production', TZ: 'Europe/Paris', DOMAIN_WWW: true, LETSENCRYPT_STAGING: false, NGINX_MODE: 'http',
      HTTP_BIND: '0.0.0.0', HTTP_BIND6: '[::]', HTTP_PORT: 80, HTTPS_PORT: 443, UPLOAD_MAX_SIZE: '20m', POSTGRES_USER: 'aiko', POSTGRES_DB: 'aiko',
      NEXT_PUBLIC_API_URL: '/api', GUNICORN_WORKERS: 2, CELERY_CONCURRENCY: 2, GRAFANA_ADMIN_USER: 'admin', GRAFANA_PORT: 3001,
    })
    expect(result.env.ADMIN_PASSWORD).toBeUndefined()
    expect(result.env.ACME_DIRECTORY_URL).toBeUndefined()
  })

  it('treats an empty value as unset, like Compose ${X:-default}', () => {
    const result = validateEnv(validEnv({ HTTP_PORT: '', ADMIN_PASSWORD: '' }))
    expect(result.ok && result.env.HTTP_PORT).toBe(80)
  })

  // Each row: variable, a good value, a bad value, words the error must contain.
  const cases: [string, string, string, string][] = [
    ['APP_ENV', 'development', 'staging', 'production or development'],
    ['TZ', 'UTC', 'Paris time', 'Europe/Paris'],
    ['DOMAIN', 'www.aiko-school.fr', 'https://aiko.fr/', 'bare lower-case host name'],
    ['DOMAIN_WWW', 'false', 'yes', 'true or false'],
    ['LETSENCRYPT_EMAIL', 'certs@aiko.fr', 'not-an-email', 'e-mail address'],
    ['LETSENCRYPT_STAGING', 'true', '1', 'true or false'],
    ['ACME_DIRECTORY_URL', 'https://pebble:14000/dir', 'http://pebble/dir', 'https:// URL'],
    ['NGINX_MODE', 'https', 'ssl', 'http or https'],
    ['HTTP_BIND', '127.0.0.1', 'localhost', 'IP address'],
    ['HTTP_BIND6', '[::1]', '::1', 'in brackets such as [::]'],
    ['HTTP_BIND6', '0.0.0.0', '[localhost]', 'the same IPv4 address as HTTP_BIND'],
    ['HTTP_PORT', '8080', '70000', 'between 1 and 65535'],
    ['HTTPS_PORT', '8443', 'abc', 'between 1 and 65535'],
    ['UPLOAD_MAX_SIZE', '100m', '20 MB', 'such as 20m'],
    ['POSTGRES_USER', 'aiko_app', 'Aiko-User', 'lower-case letters'],
    ['POSTGRES_DB', 'aiko_prod', 'aiko;drop', 'lower-case letters'],
    ['POSTGRES_PASSWORD', 'a'.repeat(20) + '._~-', 'a'.repeat(20) + '@', 'A-Z a-z 0-9 . _ ~ -'],
    ['REDIS_PASSWORD', 'b'.repeat(16), 'b'.repeat(16) + ' x', 'A-Z a-z 0-9 . _ ~ -'],
    ['SECRET_KEY', 'k3Y'.repeat(11), 'k3Y'.repeat(10), 'too short'],
    ['JWT_SECRET_KEY', 'y'.repeat(64), 'short', 'too short'],
    ['ADMIN_EMAIL', 'chef@aiko.fr', 'chef@', 'e-mail address'],
    ['ADMIN_PASSWORD', `it's a $ecret "pass" #1 é`, 'short', 'shorter than 12'],
    ['NEXT_PUBLIC_API_URL', 'https://api.aiko.fr', 'api', 'path such as /api'],
    ['GUNICORN_WORKERS', '4', '0', 'from 1 to 32'],
    ['CELERY_CONCURRENCY', '32', '33', 'from 1 to 32'],
    ['GRAFANA_ADMIN_USER', 'grafana.admin', 'bad user', 'letters, digits'],
    ['GRAFANA_ADMIN_PASSWORD', 'g'.repeat(16), 'g'.repeat(15), 'too short'],
    ['GRAFANA_PORT', '3000', '-1', 'between 1 and 65535'],
  ]

  it.each(cases)('%s: accepts a good value and names itself when bad', (name, good, bad, words) => {
    expect(problemsFor({ [name]: good })).toEqual([])
    const problems = problemsFor({ [name]: bad })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(name)
    expect(problems[0]).toContain(words)
  })

  it.each(['DOMAIN', 'LETSENCRYPT_EMAIL', 'ADMIN_EMAIL', 'POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY', 'JWT_SECRET_KEY', 'GRAFANA_ADMIN_PASSWORD'])(
    '%s is required and its error says how to set it',
    (name) => {
      const problems = problemsFor({ [name]: undefined })
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(new RegExp(`^${name}: ${name} is missing: .*(--set ${name}=|generate it)`))
    },
  )

  it('refuses placeholders and example domains in production only', () => {
    const placeholders = { POSTGRES_PASSWORD: 'changeme', SECRET_KEY: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', DOMAIN: 'example.com', ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'CHANGEME-later' }
    const production = problemsFor(placeholders)
    expect(production.map((problem) => problem.split(':')[0])).toEqual(['DOMAIN', 'POSTGRES_PASSWORD', 'SECRET_KEY', 'ADMIN_EMAIL', 'ADMIN_PASSWORD'])
    expect(problemsFor({ ...placeholders, APP_ENV: 'development' })).toEqual([])
  })

  it('is lenient on secret length in development', () => {
    expect(problemsFor({ APP_ENV: 'development', SECRET_KEY: 'dev', JWT_SECRET_KEY: 'devjwt', POSTGRES_PASSWORD: 'pg', ADMIN_PASSWORD: 'admin' })).toEqual([])
  })

  it('reports every problem at once, cross-variable rules included', () => {
    const problems = problemsFor({ DOMAIN: 'http://x', HTTP_PORT: '443', SECRET_KEY: 'z'.repeat(40), JWT_SECRET_KEY: 'z'.repeat(40), ADMIN_EMAIL: undefined, REDIS_PASSWORD: 'short' })
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(['ADMIN_EMAIL', 'DOMAIN', 'HTTPS_PORT', 'JWT_SECRET_KEY', 'REDIS_PASSWORD'])
  })

  it('never puts a value in a message', () => {
    const secret = 'Secret$With"Odd#Chars'
    const result = validateEnv(validEnv({ POSTGRES_PASSWORD: secret, SECRET_KEY: secret, REDIS_PASSWORD: secret }))
    expect(result.ok).toBe(false)
    if (!result.ok) for (const problem of result.problems) expect(problem.message).not.toContain(secret)
  })
})
