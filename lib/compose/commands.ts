import type { Command } from '../exec/executor.ts'

/**
 * How to call Docker Compose for this project. `base` is ['docker', 'compose'] (v2) or
 * ['docker-compose'] (1.29); COMPOSE_FILE and COMPOSE_PROJECT_NAME reach compose through
 * the inherited environment, exactly as compose itself honours them.
 */
export interface ComposeTarget {
  base: readonly string[]
  envFile: string
  projectDir: string
  /** The compose project name, as compose derives it (see projectName). */
  project: string
  /** Toolkit variables compose interpolates (AIKO_RELEASE, AIKO_VAR_DIR). */
  env: Readonly<Record<string, string>>
}

const composeCommand = (target: ComposeTarget, args: readonly string[], mutates: boolean): Command => ({
  argv: [...target.base, '--project-directory', target.projectDir, '--env-file', target.envFile, ...args],
  mutates,
  env: target.env,
  cwd: target.projectDir,
})

export function composeUp(target: ComposeTarget, services: readonly string[] = [], options: { build?: boolean; noDeps?: boolean; noRecreate?: boolean } = {}): Command {
  const flags = [...(options.build === true ? ['--build'] : []), ...(options.noDeps === true ? ['--no-deps'] : []), ...(options.noRecreate === true ? ['--no-recreate'] : [])]
  return composeCommand(target, ['up', '-d', ...flags, ...services], true)
}

export function composeDown(target: ComposeTarget, options: { volumes?: boolean } = {}): Command {
  return composeCommand(target, ['down', '--remove-orphans', ...(options.volumes === true ? ['--volumes'] : [])], true)
}

export function composeBuild(target: ComposeTarget, services: readonly string[] = []): Command {
  return composeCommand(target, ['build', ...services], true)
}

/** `exec -T`: no TTY, so output is captured and cron/CI never hang. */
export function composeExec(target: ComposeTarget, service: string, argv: readonly string[], options: { mutates: boolean; user?: string }): Command {
  return composeCommand(target, ['exec', '-T', ...(options.user === undefined ? [] : ['--user', options.user]), service, ...argv], options.mutates)
}

/** A one-off container of a service, removed afterwards; never starts its dependencies unless asked. */
export function composeRun(
  target: ComposeTarget,
  service: string,
  argv: readonly string[],
  /** env: names passed as `-e NAME` with no value: compose takes each from its environment (Command.env), never from argv. */
  options: { mutates: boolean; entrypoint?: string; withDeps?: boolean; env?: readonly string[] },
): Command {
  return composeCommand(
    target,
    ['run', '--rm', '-T', ...(options.env ?? []).flatMap((name) => ['-e', name]), ...(options.withDeps === true ? [] : ['--no-deps']), ...(options.entrypoint === undefined ? [] : ['--entrypoint', options.entrypoint]), service, ...argv],
    options.mutates,
  )
}

/**
 * Ids of the project's service containers (one-off `run` containers excluded), read from the
 * labels compose v2 and 1.29 both set: a plain `docker ps`, much cheaper than `compose ps`.
 */
export function composeContainerIds(target: ComposeTarget, service?: string, options: { runningOnly?: boolean } = {}): Command {
  const labels = [`com.docker.compose.project=${target.project}`, 'com.docker.compose.oneoff=False', ...(service === undefined ? [] : [`com.docker.compose.service=${service}`])]
  return {
    argv: ['docker', 'ps', '-q', ...(options.runningOnly === true ? [] : ['-a']), ...labels.flatMap((label) => ['--filter', `label=${label}`])],
    mutates: false,
    timeoutMs: 60_000,
  }
}

/** Ids of the project's one-off containers (`compose run`), left behind when a run was killed. */
export function composeOneOffIds(target: ComposeTarget): Command {
  return { argv: ['docker', 'ps', '-aq', '--filter', `label=com.docker.compose.project=${target.project}`, '--filter', 'label=com.docker.compose.oneoff=True'], mutates: false, timeoutMs: 60_000 }
}

/** Compose's project name: COMPOSE_PROJECT_NAME (environment, then .env), else the folder's name, normalised. */
export function projectName(explicit: string | undefined, projectDir: string): string {
  const raw = explicit ?? projectDir.split(/[\\/]/).filter(Boolean).at(-1) ?? 'default'
  return raw.toLowerCase().replace(/[^-_a-z0-9]/g, '')
}

/** The merged, interpolated compose files; `profiles` adds the services of those profiles (certbot's tools). */
export function composeConfig(target: ComposeTarget, options: { profiles?: readonly string[] } = {}): Command {
  return composeCommand(target, [...(options.profiles ?? []).flatMap((profile) => ['--profile', profile]), 'config'], false)
}

/** The two flavours: v2 is `docker compose` (the plugin), v1 is `docker-compose` 1.29. */
export type ComposeFlavorName = 'v2' | 'v1'

/** How to ask each flavour for its version; a missing plugin or binary fails fast, a hung daemon never holds a script. */
export function composeVersionProbes(): Record<ComposeFlavorName, Command> {
  return {
    v2: { argv: ['docker', 'compose', 'version', '--short'], mutates: false, timeoutMs: 30_000 },
    v1: { argv: ['docker-compose', 'version', '--short'], mutates: false, timeoutMs: 30_000 },
  }
}

/**
 * Starts extra containers beside the running ones: `--no-recreate` leaves the old containers
 * as they are, `--scale` adds the new ones with the current config (the new release's image).
 */
export function composeScaleUp(target: ComposeTarget, scales: Readonly<Record<string, number>>): Command {
  const services = Object.keys(scales)
  return composeCommand(target, ['up', '-d', '--no-deps', '--no-recreate', ...services.flatMap((service) => ['--scale', `${service}=${scales[service]}`]), ...services], true)
}
