/**
 * The one place where secrets are hidden from output. Every value registered here is replaced
 * by `***` in anything the toolkit prints: log lines, command echo, error messages.
 */
const MASK = '***'
const MIN_MASKED_LENGTH = 4
const secrets = new Set<string>()

export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (value !== undefined && value.length >= MIN_MASKED_LENGTH) secrets.add(value)
  }
}

export function clearSecrets(): void {
  secrets.clear()
}

export function maskSecrets(text: string): string {
  if (secrets.size === 0) return text
  // Longest first, so a secret that contains another one is hidden whole.
  const ordered = [...secrets].sort((a, b) => b.length - a.length)
  let masked = text
  for (const secret of ordered) masked = masked.split(secret).join(MASK)
  return masked
}
