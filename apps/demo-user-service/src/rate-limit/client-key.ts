import { isIPv6 } from 'node:net';

/**
 * The rate-limit key of an anonymous caller's address. An IPv4 address is its own key. An IPv6
 * address is keyed by its /64 network: a single host is usually given a whole /64 and can pick a
 * fresh address in it for every request, so keying by full address would hand it 2^64 budgets.
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, from a dual-stack listener) is keyed as the
 * IPv4 address it carries.
 */
export function clientKey(ip: string): string {
  if (!isIPv6(ip)) return `ip:${ip}`;
  const zone = ip.indexOf('%');
  const address = (zone === -1 ? ip : ip.slice(0, zone)).toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return `ip:${mapped[1]}`;
  return `ip6:${networkOf(address)}::/64`;
}

/** The first four 16-bit groups of an IPv6 address, without leading zeros. */
function networkOf(address: string): string {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  let all: string[];
  if (tail === undefined) {
    all = groups(head);
  } else {
    const left = groups(head);
    const right = groups(tail);
    // An embedded IPv4 tail (`::192.0.2.1`) fills two groups.
    const rightCount = right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
    all = [...left, ...Array<string>(8 - left.length - rightCount).fill('0'), ...right];
  }
  return all
    .slice(0, 4)
    .map((g) => (g.includes('.') ? g : g.replace(/^0+(?=.)/, '')))
    .join(':');
}
