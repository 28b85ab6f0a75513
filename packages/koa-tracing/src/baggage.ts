/** At most this many baggage members are read; later ones are dropped. */
export const MAX_BAGGAGE_MEMBERS = 64;
/** Longer inbound `baggage` values are dropped unparsed (https://www.w3.org/TR/baggage/#limits). */
export const MAX_BAGGAGE_LENGTH = 8192;

/** One baggage member: decoded value and the raw `;`-separated properties, if any. */
export interface BaggageMember {
  key: string;
  value: string;
  /** Raw properties after the value, without the leading `;` (e.g. `ttl=30`). */
  metadata?: string;
}

// key = token (RFC 7230 tchar).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// value = *baggage-octet, percent-encoded: printable ASCII but DQUOTE, ",", ";" and "\".
const VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;
/** True when `key` is a valid baggage key (an RFC 7230 token), so also a valid header-name suffix. */
export function isBaggageKey(key: string): boolean {
  return TOKEN.test(key);
}

const PROPERTY =
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)?$/;
const OWS = /^[ \t]+|[ \t]+$/g;

function trim(value: string): string {
  return value.replace(OWS, '');
}

/**
 * Parses a W3C `baggage` header value (https://www.w3.org/TR/baggage/#header-content). A member
 * that breaks the grammar (bad key, unencoded or undecodable value, bad property) is skipped on
 * its own; members past {@link MAX_BAGGAGE_MEMBERS} are dropped; a header over
 * {@link MAX_BAGGAGE_LENGTH} is ignored whole. `allow`, when given, keeps only the keys it accepts
 * (a trust boundary: baggage is caller-controlled input). A repeated key keeps its last value.
 */
export function parseBaggage(
  header: string | undefined,
  allow?: (key: string) => boolean,
): BaggageMember[] {
  if (header === undefined || header === '' || header.length > MAX_BAGGAGE_LENGTH) return [];
  const out = new Map<string, BaggageMember>();
  for (const raw of header.split(',')) {
    if (out.size >= MAX_BAGGAGE_MEMBERS) break;
    const parts = raw.split(';');
    const pair = parts[0]!;
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const key = trim(pair.slice(0, eq));
    const encoded = trim(pair.slice(eq + 1));
    if (!TOKEN.test(key) || !VALUE.test(encoded)) continue;
    if (allow && !allow(key)) continue;
    let value: string;
    try {
      value = decodeURIComponent(encoded);
    } catch {
      continue;
    }
    const properties = parts.slice(1).map(trim);
    if (properties.some((p) => !PROPERTY.test(p))) continue;
    const member: BaggageMember = { key, value };
    if (properties.length > 0) member.metadata = properties.join(';');
    out.delete(key);
    out.set(key, member);
  }
  return [...out.values()];
}

/**
 * Formats baggage members as a `baggage` header value, percent-encoding values, and stopping
 * before the header would pass {@link MAX_BAGGAGE_LENGTH} or {@link MAX_BAGGAGE_MEMBERS}.
 */
export function formatBaggage(members: Iterable<BaggageMember>): string {
  let out = '';
  let count = 0;
  for (const { key, value, metadata } of members) {
    if (!TOKEN.test(key)) continue;
    const member = `${key}=${encodeURIComponent(value)}${metadata ? `;${metadata}` : ''}`;
    const next = out === '' ? member : `${out},${member}`;
    if (next.length > MAX_BAGGAGE_LENGTH || count >= MAX_BAGGAGE_MEMBERS) break;
    out = next;
    count++;
  }
  return out;
}
