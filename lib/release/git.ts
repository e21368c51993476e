import type { Executor } from '../exec/executor.ts'
import { PROJECT_DIR } from '../stack/context.ts'

export interface GitState {
  sha: string
  dirty: boolean
}

/** The commit being deployed; outside a git checkout the release still gets an id. */
export async function readGitState(executor: Executor): Promise<GitState> {
  const head = await executor.probe({ argv: ['git', 'rev-parse', 'HEAD'], mutates: false, cwd: PROJECT_DIR }).catch(() => undefined)
  if (head === undefined || head.exitCode !== 0) return { sha: 'nogit00', dirty: false }
  const status = await executor.probe({ argv: ['git', 'status', '--porcelain', '--untracked-files=no'], mutates: false, cwd: PROJECT_DIR })
  return { sha: head.stdout.trim(), dirty: status.stdout.trim() !== '' }
}
