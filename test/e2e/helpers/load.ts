import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { Agent, request } from 'node:https'

export interface LoadTarget {
  host: string
  port: number
  servername: string
  path: string
  /** Plain HTTP (benchmarks in http mode); HTTPS otherwise. */
  plain?: boolean
}

export interface LoadFigures {
  sent: number
  /** Requests that got no response or a 5xx. */
  rawFailed: number
  /** Failures left after one browser-like retry of a GET that received no response byte. */
  failedAfterRetry: number
  statuses: Record<string, number>
  errors: string[]
  versions: Record<string, number>
  /** Milliseconds from the start of the load to the first response of each version. */
  firstSeenMs: Record<string, number>
}

type Outcome = { status: number; version: string | undefined } | { error: string; gotBytes: boolean }

function get(agent: Agent | HttpAgent, target: LoadTarget): Promise<Outcome> {
  return new Promise((resolve) => {
    let gotBytes = false
    const options = { host: target.host, port: target.port, path: target.path, headers: { host: target.servername }, timeout: 15_000 }
    const send = (onResponse: (res: IncomingMessage) => void): ClientRequest =>
      agent instanceof Agent
        ? request({ ...options, agent, servername: target.servername, rejectUnauthorized: false }, onResponse)
        : httpRequest({ ...options, agent }, onResponse)
    const req = send(
      (res) => {
        gotBytes = true
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString()
          resolve({ status: res.statusCode ?? 0, version: /"version"\s*:\s*"([^"]*)"/.exec(body)?.[1] })
        })
        res.on('error', (error) => resolve({ error: error.message, gotBytes }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error) => resolve({ error: `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`, gotBytes }))
    req.end()
  })
}

/**
 * Keep-alive HTTPS clients on loopback, each looping GETs until `stop()` resolves, bounded by
 * `maxRequests` in total and `maxMs`. A GET that received no byte is retried once, as browsers do.
 */
export async function runLoad(target: LoadTarget, until: Promise<unknown>, options: { clients: number; maxRequests: number; maxMs: number; pauseMs?: number }): Promise<LoadFigures> {
  const figures: LoadFigures = { sent: 0, rawFailed: 0, failedAfterRetry: 0, statuses: {}, errors: [], versions: {}, firstSeenMs: {} }
  const startedAt = Date.now()
  let done = false
  void until.finally(() => (done = true)).catch(() => undefined)
  const deadline = Date.now() + options.maxMs
  const client = async (): Promise<void> => {
    const agent = target.plain === true ? new HttpAgent({ keepAlive: true, maxSockets: 1 }) : new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      while (!done && figures.sent < options.maxRequests && Date.now() < deadline) {
        figures.sent++
        let outcome = await get(agent, target)
        const failed = (o: Outcome) => !('status' in o) || o.status >= 500
        if (failed(outcome)) {
          figures.rawFailed++
          if (!('status' in outcome) && !outcome.gotBytes) outcome = await get(agent, target)
          if (failed(outcome)) figures.failedAfterRetry++
        }
        if ('status' in outcome) {
          figures.statuses[outcome.status] = (figures.statuses[outcome.status] ?? 0) + 1
          if (outcome.version !== undefined) {
            figures.versions[outcome.version] = (figures.versions[outcome.version] ?? 0) + 1
            figures.firstSeenMs[outcome.version] ??= Date.now() - startedAt
          }
        } else if (figures.errors.length < 20) figures.errors.push(outcome.error)
        if (options.pauseMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.pauseMs))
      }
    } finally {
      agent.destroy()
    }
  }
  await Promise.all(Array.from({ length: options.clients }, client))
  return figures
}

/** The API is rate-limited (20 r/s per address): one paced client on it, unpaced clients on the front end. */
export async function runMixedLoad(base: Omit<LoadTarget, 'path'>, until: Promise<unknown>, options: { maxMs: number }): Promise<{ api: LoadFigures; web: LoadFigures }> {
  const [api, web] = await Promise.all([
    runLoad({ ...base, path: '/api/version' }, until, { clients: 1, maxRequests: 5_000, maxMs: options.maxMs, pauseMs: 80 }),
    runLoad({ ...base, path: '/version' }, until, { clients: 3, maxRequests: 100_000, maxMs: options.maxMs, pauseMs: 10 }),
  ])
  return { api, web }
}
