import { validateEnv } from '../../../lib/env/schema.ts'

/** A production .env that passes validation; tests change one variable at a time. */
export function validEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    APP_ENV: 'production',
    DOMAIN: 'aiko.mon-ecole.fr',
    LETSENCRYPT_EMAIL: 'ops@mon-ecole.fr',
    ADMIN_EMAIL: 'admin@mon-ecole.fr',
    POSTGRES_PASSWORD: 'Pg0123456789abcdefABCDEF',
    REDIS_PASSWORD: 'Rd0123456789abcdefABCDEF',
    SECRET_KEY: 'S'.repeat(40) + 'k',
    JWT_SECRET_KEY: 'J'.repeat(40) + 'w',
    GRAFANA_ADMIN_PASSWORD: 'Gr0123456789abcdef',
    ...overrides,
  }
}

/** The problems validateEnv reports for validEnv(overrides), as "NAME: message" (none when valid). */
export function problemsFor(overrides: Record<string, string | undefined>): string[] {
  const result = validateEnv(validEnv(overrides))
  return result.ok ? [] : result.problems.map((problem) => `${problem.name}: ${problem.message}`)
}
