import type { TraceState } from '@opentelemetry/api';

/** At most this many list members (https://www.w3.org/TR/trace-context-2/#tracestate-limits). */
export const MAX_TRACESTATE_MEMBERS = 32;
/** Longer inbound `tracestate` values are dropped unparsed (a header size cap). */
export const MAX_TRACESTATE_HEADER_LENGTH = 8192;
/** Outbound `tracestate` is truncated to this length, as the spec allows. */
export const MAX_TRACESTATE_OUTBOUND_LENGTH = 512;
/** Members longer than this are the first dropped when truncating. */
const LONG_MEMBER = 128;

// key = simple-key / multi-tenant-key (tenant-id "@" system-id), lowercase only.
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = printable ASCII but "," and "=".
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
// Optional whitespace (space, tab) around a list member.
const OWS = /^[ \t]+|[ \t]+$/g;

/** True when `key` is a valid tracestate key. */
export function isValidTracestateKey(key: string): boolean {
  return KEY.test(key);
}

/** True when `value` is a valid tracestate value. */
export function isValidTracestateValue(value: string): boolean {
  return VALUE.test(value);
}

/**
 * An immutable W3C `tracestate` list implementing OpenTelemetry's `TraceState`: `set` moves the
 * key to the front (the spec's "modified keys go left"), and `serialize` truncates to 512
 * characters by dropping long members first, then members from the right.
 */
export class W3CTraceState implements TraceState {
  /** Members left to right, as `[key, value]`. */
  readonly #members: ReadonlyArray<readonly [string, string]>;

  constructor(members: ReadonlyArray<readonly [string, string]> = []) {
    this.#members = members;
  }

  get(key: string): string | undefined {
    for (const [k, v] of this.#members) if (k === key) return v;
    return undefined;
  }

  set(key: string, value: string): W3CTraceState {
    if (!isValidTracestateKey(key) || !isValidTracestateValue(value)) return this;
    const rest = this.#members.filter(([k]) => k !== key);
    const first: readonly [string, string] = [key, value];
    return new W3CTraceState([first, ...rest].slice(0, MAX_TRACESTATE_MEMBERS));
  }

  unset(key: string): W3CTraceState {
    return new W3CTraceState(this.#members.filter(([k]) => k !== key));
  }

  /** The number of members. */
  get size(): number {
    return this.#members.length;
  }

  serialize(): string {
    let members = this.#members.map(([k, v]) => `${k}=${v}`);
    const length = (): number => members.reduce((n, m) => n + m.length, 0) + members.length - 1;
    if (length() <= MAX_TRACESTATE_OUTBOUND_LENGTH) return members.join(',');
    for (let i = members.length - 1; i >= 0 && length() > MAX_TRACESTATE_OUTBOUND_LENGTH; i--) {
      if (members[i]!.length > LONG_MEMBER) members = members.filter((_, j) => j !== i);
    }
    while (members.length > 0 && length() > MAX_TRACESTATE_OUTBOUND_LENGTH) members.pop();
    return members.join(',');
  }
}

/**
 * Parses a W3C `tracestate` header value (several headers arrive joined with `,`, which is how
 * the spec says to combine them). Returns `undefined` — drop the whole header — when any member is
 * invalid, a key repeats, there are more than 32 members, or the value is over the size cap. Empty
 * members (`a=1,,b=2`) and optional whitespace around members are allowed.
 */
export function parseTracestate(header: string | undefined): W3CTraceState | undefined {
  if (header === undefined || header.length > MAX_TRACESTATE_HEADER_LENGTH) return undefined;
  const members: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const raw of header.split(',')) {
    const member = raw.replace(OWS, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!isValidTracestateKey(key) || !isValidTracestateValue(value)) return undefined;
    if (seen.has(key)) return undefined;
    seen.add(key);
    members.push([key, value]);
    if (members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  }
  return new W3CTraceState(members);
}
