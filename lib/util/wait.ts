import { setTimeout as sleep } from 'node:timers/promises'

export type Poll<T> = { done: true; value: T } | { done: false; waitingFor: string }

export class WaitTimeout extends Error {
  readonly waitingFor: string
  constructor(waitingFor: string, timeoutMs: number) {
    super(`still waiting after ${Math.round(timeoutMs / 1000)}s for ${waitingFor}`)
    this.waitingFor = waitingFor
  }
}

/**
 * Polls `check` with exponential backoff (from `firstDelayMs`, doubling up to `maxDelayMs`)
 * until it is done or `timeoutMs` has passed. `check` throws to stop early.
 */
export async function waitUntil<T>(
  check: () => Promise<Poll<T>>,
  options: { timeoutMs: number; firstDelayMs?: number; maxDelayMs?: number; onWait?: (waitingFor: string) => void },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let delay = options.firstDelayMs ?? 250
  for (;;) {
    const poll = await check()
    if (poll.done) return poll.value
    options.onWait?.(poll.waitingFor)
    if (Date.now() + delay > deadline) throw new WaitTimeout(poll.waitingFor, options.timeoutMs)
    await sleep(delay)
    delay = Math.min(delay * 2, options.maxDelayMs ?? 2000)
  }
}
