/** Longest service name the client accepts (this package's limit; see serviceNameProblem). */
export const MAX_SERVICE_NAME_LENGTH = 512;

/**
 * What Go's `unicode.IsPrint` accepts: letters, marks, numbers, punctuation, symbols and the ASCII
 * space. A lone surrogate matches none of them.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u;

/**
 * Why `name` can never be asked for through Consul's `/v1/health/service/:name`, or undefined when
 * it can. Consul 1.8 registers almost any name (it only warns when one is not DNS-compatible:
 * spaces, `/`, `_`, non-ASCII and emoji all work), but its HTTP API answers 400 to a path with a
 * character `unicode.IsPrint` rejects (controls, format characters, spaces other than U+0020,
 * private-use and unassigned code points), and its router redirects a path with `.`, `..` or
 * empty segments to another one; it refuses an empty name. Past a length no name is real, and
 * names often come from request input, so the length is capped too (Consul itself only stops
 * near its 1 MiB request-line limit). Checked against Consul 1.8.7.
 */
export function serviceNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name.length > MAX_SERVICE_NAME_LENGTH) {
    return `it is longer than ${MAX_SERVICE_NAME_LENGTH} characters`;
  }
  if (!PRINTABLE.test(name)) {
    return 'it has a control, format, non-printable or unpaired surrogate character, which Consul refuses in a URL';
  }
  if (name.includes('.') || name.includes('/')) {
    const segments = name.split('/');
    const last = segments.length - 1;
    for (let i = 0; i <= last; i++) {
      const s = segments[i];
      if (s === '.' || s === '..' || (s === '' && i < last)) {
        return 'it has an empty, `.` or `..` path segment, which Consul rewrites to another path';
      }
    }
  }
  return undefined;
}

/** `name` as an error message may show it: escaped and cut short. */
export function shownServiceName(name: string): string {
  const cut = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(cut).slice(1, -1);
}
