import { ExitCode, ToolkitError, type ExitCodeValue } from '../errors.ts'

/**
 * What a run does with signals, so that it never stops half-way through a step:
 *
 * - SIGINT (Ctrl-C) and SIGTERM (kill, systemd, docker stop): recorded; the flow stops at the
 *   next step boundary (Output.step checks before it starts a step) with exit 130 or 143. The
 *   steps done stand, and the same command run again converges. A second SIGINT or SIGTERM
 *   while the current step finishes means the operator insists: exit at once with its code.
 * - SIGHUP (the SSH session dropped): the run goes on to its end; from then on its output
 *   goes only to the log file, since the terminal is gone.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM'

export type SignalAction =
  | { kind: 'stop-at-next-step'; signal: StopSignal }
  | { kind: 'exit-now'; signal: StopSignal; exitCode: ExitCodeValue }
  | { kind: 'detach' }
  | { kind: 'ignore' }

export interface SignalState {
  /** The SIGINT or SIGTERM received and not yet acted upon: the run stops at the next step. */
  readonly pending: StopSignal | undefined
  /** True once SIGHUP came: stdout and stderr may be gone. */
  readonly hungUp: boolean
  /** Records one signal and says what to do about it (pure: no side effect beyond the state). */
  receive(signal: NodeJS.Signals): SignalAction
  /** Throws the interruption (exit 130 or 143) when a stop is pending: call before starting a step. */
  checkBeforeStep(title: string): void
}

export function signalExitCode(signal: StopSignal): ExitCodeValue {
  return signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated
}

export function interruptedError(signal: StopSignal, title: string): ToolkitError {
  return new ToolkitError(`interrupted by ${signal} before step «${title}»: the steps done so far stand; run the same command again to converge`, {
    exitCode: signalExitCode(signal),
  })
}

export function createSignalState(): SignalState {
  let pending: StopSignal | undefined
  let hungUp = false
  return {
    get pending() {
      return pending
    },
    get hungUp() {
      return hungUp
    },
    receive(signal) {
      if (signal === 'SIGHUP') {
        if (hungUp) return { kind: 'ignore' }
        hungUp = true
        return { kind: 'detach' }
      }
      if (signal !== 'SIGINT' && signal !== 'SIGTERM') return { kind: 'ignore' }
      if (pending === undefined) {
        pending = signal
        return { kind: 'stop-at-next-step', signal }
      }
      return { kind: 'exit-now', signal, exitCode: signalExitCode(signal) }
    },
    checkBeforeStep(title) {
      if (pending !== undefined) throw interruptedError(pending, title)
    },
  }
}

/** The state of this process's signals: what Output.step and runMain consult. */
export const processSignals: SignalState = createSignalState()

export interface SignalEffects {
  /** Tells the operator (through Output: masked, logged; after SIGHUP to the log only). */
  notify(message: string): void
  /** Ends the process now (the second SIGINT/SIGTERM). */
  exit(code: number): void
}

/** The line printed for each action, or undefined. */
export function describeAction(action: SignalAction): string | undefined {
  switch (action.kind) {
    case 'stop-at-next-step':
      return `${action.signal} received: the current step finishes, then the run stops (send ${action.signal} again to stop at once)`
    case 'exit-now':
      return `${action.signal} again: stopping now, in the middle of the current step; run the same command again to converge`
    case 'detach':
      return 'SIGHUP (the terminal is gone): the run goes on to its end; its output now goes only to the log file'
    case 'ignore':
      return undefined
  }
}

const HANDLED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** Installs the handlers on this process; returns the function that removes them. */
export function installSignalHandlers(state: SignalState, effects: SignalEffects): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    const action = state.receive(signal)
    if (action.kind === 'detach') detachFromTerminal()
    const message = describeAction(action)
    if (message !== undefined) effects.notify(message)
    if (action.kind === 'exit-now') effects.exit(action.exitCode)
  }
  for (const signal of HANDLED) process.on(signal, handler)
  return () => {
    for (const signal of HANDLED) process.off(signal, handler)
  }
}

const ignore = (): void => undefined

/**
 * stdout and stderr may be a closed pipe (EPIPE) or a terminal that hung up (EIO): a failed
 * write must never end a run that is changing the server. Idempotent.
 */
export function guardStandardStreams(): void {
  for (const stream of [process.stdout, process.stderr]) if (!stream.listeners('error').includes(ignore)) stream.on('error', ignore)
}

/** After SIGHUP, reading the dead terminal fails too (ora reads stdin while it spins). */
function detachFromTerminal(): void {
  guardStandardStreams()
  if (!process.stdin.listeners('error').includes(ignore)) process.stdin.on('error', ignore)
}
