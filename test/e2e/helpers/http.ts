import { baseUrl } from './stack.ts'

export interface LoadReport {
  sent: number
  failed: number
  statuses: Record<number, number>
  errors: string[]
}

/**
 * Sends GET requests to the e2e nginx (loopback only) one after another until `until`
 * settles, bounded by `maxRequests` and `maxMs`, and counts what failed.
 */
export async function loadWhile<T>(until: Promise<T>, options: { path: string; maxRequests: number; maxMs: number }): Promise<{ result: PromiseSettledResult<T>; report: LoadReport }> {
  let settled: PromiseSettledResult<T> | undefined
  const watched = until.then(
    (value) => (settled = { status: 'fulfilled', value }),
    (reason: unknown) => (settled = { status: 'rejected', reason }),
  )
  const report: LoadReport = { sent: 0, failed: 0, statuses: {}, errors: [] }
  const deadline = Date.now() + options.maxMs
  while (settled === undefined && report.sent < options.maxRequests && Date.now() < deadline) {
    report.sent++
    try {
      const response = await fetch(`${baseUrl}${options.path}`, { signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
      report.statuses[response.status] = (report.statuses[response.status] ?? 0) + 1
      if (response.status >= 500) report.failed++
    } catch (error) {
      report.failed++
      report.errors.push(error instanceof Error ? `${error.message} ${String(error.cause ?? '')}` : String(error))
    }
  }
  await watched
  return { result: settled ?? { status: 'rejected', reason: new Error('load loop ended before the operation') }, report }
}
