import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { AikoEnv } from '../env/schema.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import type { StackContext } from './context.ts'

/**
 * Redis's password reaches Redis in a config file, never on its command line (`docker
 * inspect` shows a container's Cmd to anyone in the docker group): docker-compose.yml mounts
 * this file as the secret /run/secrets/redis.conf and passes only its path to redis-server.
 */
export const redisConfigPath = (varDir: string): string => join(varDir, 'secrets', 'redis.conf')

export function renderRedisConfig(password: string): string {
  return ['# Written by the AI-KO toolkit from REDIS_PASSWORD (.env) before each start: do not edit.', `requirepass ${password}`, ''].join('\n')
}

/**
 * Writes the file (atomically) before compose may create the redis container. The folder is
 * 0700 (root only on the host); the file itself is 0644 because compose bind-mounts it as it
 * is and Redis reads it as its own user inside the container.
 */
export async function writeRedisConfig(ctx: Pick<StackContext, 'varDir' | 'executor'>, env: Pick<AikoEnv, 'REDIS_PASSWORD'>): Promise<void> {
  if (ctx.executor.dryRun) return
  const file = redisConfigPath(ctx.varDir)
  await mkdir(join(ctx.varDir, 'secrets'), { recursive: true, mode: 0o700 })
  await chmod(join(ctx.varDir, 'secrets'), 0o700)
  await writeFileAtomic(file, renderRedisConfig(env.REDIS_PASSWORD), { mode: 0o644 })
}
