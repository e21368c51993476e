import { releaseImages } from '../../../lib/release/images.ts'
import { readReleaseLog } from '../../../lib/release/log.ts'
import { runCommand } from './run.ts'

/**
 * Removes every container, volume and network of a compose project by its label: works
 * even when the .env compose would need is gone, so a failed run never leaves a stack.
 */
export async function removeComposeProject(project: string): Promise<void> {
  const filter = ['--filter', `label=com.docker.compose.project=${project}`]
  const list = async (args: string[]) => (await runCommand('docker', [...args, ...filter])).stdout.split('\n').filter(Boolean)
  const containers = await list(['ps', '-aq'])
  if (containers.length > 0) await runCommand('docker', ['rm', '-f', '-v', ...containers])
  const volumes = await list(['volume', 'ls', '-q'])
  if (volumes.length > 0) await runCommand('docker', ['volume', 'rm', '-f', ...volumes])
  const networks = await list(['network', 'ls', '-q'])
  if (networks.length > 0) await runCommand('docker', ['network', 'rm', ...networks])
}

/** Removes the images of every release a test stack built (their ids are in its release log). */
export async function removeReleaseImages(varDir: string): Promise<void> {
  const images = (await readReleaseLog(varDir)).flatMap((entry) => releaseImages(entry.id))
  if (images.length > 0) await runCommand('docker', ['rmi', '-f', ...new Set(images)])
}
