import type { Command } from '../exec/executor.ts'

/** Where the engine keeps images, containers and volumes (usually /var/lib/docker). */
export function dockerRootDir(): Command {
  return { argv: ['docker', 'info', '--format', '{{.DockerRootDir}}'], mutates: false }
}
