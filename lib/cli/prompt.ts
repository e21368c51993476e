import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { question } from 'zx'

export type Ask = (prompt: string, options?: { hidden?: boolean }) => Promise<string>

/**
 * The terminal prompt: zx's question, or, for a secret, the same prompt with the typed
 * characters not echoed (readline writes into a sink; only the prompt and the final line
 * break reach the terminal).
 */
export const ask: Ask = async (prompt, options = {}) => {
  if (options.hidden !== true) return question(prompt)
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() })
  // The terminal leaves its echo mode (raw, readline echoes into the sink) before the prompt shows.
  const reader = createInterface({ input: process.stdin, output: sink, terminal: true })
  process.stdout.write(prompt)
  try {
    return await new Promise<string>((resolve) => reader.question('', resolve))
  } finally {
    reader.close()
    process.stdout.write('\n')
  }
}
