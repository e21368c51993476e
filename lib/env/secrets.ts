import { randomInt } from 'node:crypto'

/**
 * Letters and digits only: nothing that Docker Compose interpolates ($), that dotenv or a shell
 * treats specially (quotes, #, spaces, backslash), or that needs escaping in a connection URL.
 */
export const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A random secret; crypto.randomInt draws without modulo bias. 32 chars ≈ 190 bits. */
export function generateSecret(length: number): string {
  if (!Number.isInteger(length) || length < 16) throw new RangeError(`secret length must be an integer >= 16, got ${length}`)
  let secret = ''
  for (let i = 0; i < length; i++) secret += SECRET_ALPHABET[randomInt(SECRET_ALPHABET.length)]
  return secret
}
