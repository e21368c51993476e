import { lookup } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'
import type { Reachability } from './reachability.ts'

/** What the AAAA check observed: each name's IPv6 addresses, and this server's own. */
export interface Ipv6Facts {
  aaaa: Readonly<Record<string, readonly string[]>>
  own: readonly string[]
}

/**
 * A name whose AAAA record points to another machine (a registrar's parking record, an old
 * server) fails at Let's Encrypt, which tries IPv6 first: each such record is named before any
 * ACME request. A name without AAAA is fine (IPv4 only).
 */
export function aaaaProblems(facts: Ipv6Facts): Reachability[] {
  const own = new Set(facts.own.map(normalize))
  return Object.entries(facts.aaaa).flatMap(([name, addresses]) => {
    const foreign = addresses.filter((address) => !own.has(normalize(address)))
    if (foreign.length === 0) return []
    return [{
      name,
      ok: false,
      reason: `its AAAA record${foreign.length === 1 ? '' : 's'} ${foreign.join(', ')} ${foreign.length === 1 ? 'is' : 'are'} not an address of this server (${facts.own.length === 0 ? 'it has no public IPv6' : `its IPv6: ${facts.own.join(', ')}`}); Let's Encrypt tries IPv6 first: delete the record at your DNS provider, or point it to this server`,
    }]
  })
}

const normalize = (address: string) => address.toLowerCase().replace(/%.*$/, '')

/** This server's IPv6 addresses that the Internet can reach (link-local and loopback left out). */
export function ownIpv6Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.family === 'IPv6' && !entry.internal && !/^fe80:/i.test(entry.address))
    .map((entry) => entry.address)
}

/** A name's IPv6 addresses as the system resolves them (DNS, /etc/hosts); none when it has no AAAA. */
export async function resolveAaaa(name: string): Promise<string[]> {
  try {
    return (await lookup(name, { family: 6, all: true })).map((entry) => entry.address)
  } catch {
    // No AAAA (ENOTFOUND, ENODATA) or no resolver answer: the IPv4 check that follows decides.
    return []
  }
}

export async function observeIpv6(names: readonly string[]): Promise<Ipv6Facts> {
  const aaaa: Record<string, string[]> = {}
  for (const name of names) aaaa[name] = await resolveAaaa(name)
  return { aaaa, own: ownIpv6Addresses() }
}
