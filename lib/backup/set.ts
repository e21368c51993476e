import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../fs/atomic-write.ts'

/**
 * A backup set: everything a new server needs, in one folder that restic copies off the server.
 *   database.dump   the PostgreSQL dump (custom format)
 *   env             the .env (mode 0600): the secrets that make the dump useful
 *   uploads/        the users' files (the uploads volume)
 *   manifest.json   what the set holds, with a SHA-256 of every file (checked after each restore)
 */
export const SET_FILES = { database: 'database.dump', env: 'env', uploads: 'uploads', manifest: 'manifest.json' } as const

const checksum = z.string().regex(/^[0-9a-f]{64}$/)
const manifestSchema = z.object({
  format: z.literal(1),
  createdAt: z.string(),
  domain: z.string(),
  release: z.string().nullable(),
  database: z.object({ sha256: checksum, bytes: z.number().int().nonnegative() }),
  env: z.object({ sha256: checksum }),
  uploads: z.object({ count: z.number().int().nonnegative(), bytes: z.number().int().nonnegative(), files: z.record(z.string(), checksum) }),
})
export type SetManifest = z.infer<typeof manifestSchema>

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Every regular file under `dir`, as paths relative to it with '/' separators, sorted; none when the folder is missing. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return []
    throw error
  })
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort()
}

/** Checksums of the uploads folder: what the manifest records and what a restore is compared with. */
export async function uploadsDigest(dir: string): Promise<SetManifest['uploads']> {
  const files: Record<string, string> = {}
  let bytes = 0
  for (const name of await listFiles(dir)) {
    files[name] = await sha256File(join(dir, name))
    bytes += (await stat(join(dir, name))).size
  }
  return { count: Object.keys(files).length, bytes, files }
}

/**
 * Completes a staged set (database.dump, env and uploads/ already in `dir`): the manifest is
 * written last, so a set without one is a partial set. The folder and the env copy are 0700/0600.
 */
export async function writeManifest(dir: string, facts: { domain: string; release: string | undefined; now: Date }): Promise<SetManifest> {
  await chmod(dir, 0o700)
  await chmod(join(dir, SET_FILES.env), 0o600)
  const manifest: SetManifest = {
    format: 1,
    createdAt: facts.now.toISOString(),
    domain: facts.domain,
    release: facts.release ?? null,
    database: { sha256: await sha256File(join(dir, SET_FILES.database)), bytes: (await stat(join(dir, SET_FILES.database))).size },
    env: { sha256: await sha256File(join(dir, SET_FILES.env)) },
    uploads: await uploadsDigest(join(dir, SET_FILES.uploads)),
  }
  await writeFileAtomic(join(dir, SET_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
  return manifest
}

/** An empty staging folder for a new set (a killed run's leftovers removed first). */
export async function freshSetFolder(dir: string, envPath: string, dump: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await copyFile(dump, join(dir, SET_FILES.database))
  await copyFile(envPath, join(dir, SET_FILES.env))
  await chmod(join(dir, SET_FILES.env), 0o600)
}

/** The manifest of a restored set, validated; a missing or malformed one is a broken set. */
export async function readManifest(dir: string): Promise<SetManifest> {
  const text = await readFile(join(dir, SET_FILES.manifest), 'utf8')
  const parsed = manifestSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new Error(`${SET_FILES.manifest} does not describe a backup set: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  return parsed.data
}

/** What differs between a restored set and its manifest: one line per problem, none when it is whole. */
export async function setProblems(dir: string, manifest: SetManifest): Promise<string[]> {
  const problems: string[] = []
  const database = join(dir, SET_FILES.database)
  if ((await sha256File(database).catch(() => undefined)) !== manifest.database.sha256) problems.push(`${SET_FILES.database} is missing or differs from its checksum`)
  if ((await sha256File(join(dir, SET_FILES.env)).catch(() => undefined)) !== manifest.env.sha256) problems.push(`${SET_FILES.env} (the .env) is missing or differs from its checksum`)
  const restored = await uploadsDigest(join(dir, SET_FILES.uploads))
  problems.push(...compareUploads(manifest.uploads, restored))
  return problems
}

/** Pure: the recorded uploads against the ones found (missing, changed and unexpected files). */
export function compareUploads(recorded: SetManifest['uploads'], found: SetManifest['uploads']): string[] {
  const problems: string[] = []
  for (const [name, sum] of Object.entries(recorded.files)) {
    const seen = found.files[name]
    if (seen === undefined) problems.push(`uploads/${name} is missing`)
    else if (seen !== sum) problems.push(`uploads/${name} differs from its checksum`)
  }
  for (const name of Object.keys(found.files)) if (recorded.files[name] === undefined) problems.push(`uploads/${name} is not in the manifest`)
  if (problems.length === 0 && found.count !== recorded.count) problems.push(`uploads holds ${found.count} files, the manifest ${recorded.count}`)
  return problems
}
