import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commonHelp, commonOptions, parseFlags, scriptArgs } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { ask } from '../lib/cli/prompt.ts'
import { askAlertChannel, channelAlreadySet } from '../lib/env/alert-channel.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { parseExample } from '../lib/env/example.ts'
import { describeChange, missingAnswers, parseSetFlags, prepareEnv } from '../lib/env/init.ts'
import { checkEnvFile, invalidEnvError, loadEnv, readEnvFile, registerFileSecrets } from '../lib/env/load.ts'
import { SECRET_NAMES } from '../lib/env/schema.ts'
import { writeFileAtomic } from '../lib/fs/atomic-write.ts'

const HELP = `Usage: npx zx scripts/init-env.mts [options]

Creates or completes the .env file from env.example: generates the secrets, asks for the
values only you know (domain, e-mails) or takes them from --set, then where alerts go
(e-mail, webhook, both or none; asked while .env names no channel), never overwrites a value
you set, writes the file atomically with mode 0600 (previous file kept as <file>.bak),
then validates it.

Options:
  --set KEY=VALUE  give a value (repeatable), e.g. --set DOMAIN=aiko.your-domain.fr
  --check          only validate the existing file and list every problem
${commonHelp}

${exitCodeHelp}`

const root = dirname(dirname(fileURLToPath(import.meta.url)))

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    set: { type: 'string', multiple: true, default: [] },
    check: { type: 'boolean', default: false },
  })
  if (flags.help) return void console.log(HELP)
  const envPath = flags['env-path']

  if (flags.check) {
    const { env } = await loadEnv(envPath)
    out.success(`${envPath} is valid (APP_ENV=${env.APP_ENV}, DOMAIN=${env.DOMAIN}, NGINX_MODE=${env.NGINX_MODE})`)
    return
  }

  if (!existsSync(dirname(resolve(envPath))))
    throw usageError(`--env-path ${envPath}: the folder ${dirname(resolve(envPath))} does not exist`, 'create the folder first, or choose another --env-path')
  const example = parseExample(await readFile(join(root, 'env.example'), 'utf8'))
  const current = await readEnvFile(envPath)
  if (current !== undefined) registerFileSecrets(current)
  const sets = parseSetFlags(flags.set, example)
  const answers: Record<string, string> = {}
  if (!flags.yes && process.stdin.isTTY === true) {
    for (const name of missingAnswers(example, current, sets)) {
      const variable = example.variables.find((candidate) => candidate.name === name)
      const hint = variable?.comment.filter((line) => !line.includes('@')).map((line) => line.replace(/^#\s?/, '')).join(' ') ?? ''
      answers[name] = (await ask(`${name} — ${hint}\n> `)).trim()
    }
    if (!channelAlreadySet(current?.values ?? {}, sets)) Object.assign(answers, await askAlertChannel(ask, (message) => out.warn(message)))
  }

  const plan = prepareEnv({ example, current, sets, answers, today: new Date().toISOString().slice(0, 10) })
  const secretNames = new Set<string>(SECRET_NAMES)
  const verb = flags['dry-run'] ? 'would add' : 'added'
  for (const change of plan.changes) out.info(`${verb} ${describeChange(change, secretNames)}`)
  if (current?.hadCrlf === true) out.info(`${flags['dry-run'] ? 'would convert' : 'converted'} Windows (CRLF) line ends to LF`)

  if (!plan.changed) {
    const mode = (await stat(envPath)).mode & 0o777
    if (mode !== 0o600) {
      if (flags['dry-run']) out.info(`would set the mode of ${envPath} to 0600 (now ${mode.toString(8)})`)
      else await writeFileAtomic(envPath, plan.text, { mode: 0o600 })
    }
    out.success(`${envPath} is up to date: nothing to change (${plan.kept.length} values kept)`)
    return
  }
  if (flags['dry-run']) {
    out.info(`dry-run: ${envPath} not written (${plan.kept.length} values would be kept)`)
    return
  }
  await writeFileAtomic(envPath, plan.text, { mode: 0o600, backupPath: current === undefined ? undefined : `${envPath}.bak` })
  const written = await readEnvFile(envPath)
  const problems = written === undefined ? [] : await checkEnvFile(envPath, written)
  if (problems.length > 0) throw invalidEnvError(envPath, problems)
  out.success(
    current === undefined
      ? `${envPath} created (mode 0600) and valid`
      : `${envPath} updated (mode 0600, previous file in ${envPath}.bak), ${plan.kept.length} values kept, valid`,
  )
})
