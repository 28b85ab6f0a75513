import { performance } from 'node:perf_hooks';
import type { HealthCheckResult, HealthCheckSpec, HealthStatus } from '../types.js';
import { fail, optionalFunction } from '../validate.js';
import { optionNames } from '../known-keys.js';
import { elapsedMs, scheduling, SCHEDULING_OPTIONS, type CheckScheduling } from './spec-options.js';

/** Options of {@link httpCheck}. */
export interface HttpCheckOptions extends CheckScheduling {
  /** @default 'GET' */
  method?: 'GET' | 'HEAD';
  /** Extra request headers (e.g. an authorization the dependency wants for details). */
  headers?: Record<string, string>;
  /** Which HTTP statuses count as up. @default 2xx */
  expectStatus?: (status: number) => boolean;
}

// `headers` is the user's map of header names: its keys are not checked.
const HTTP_CHECK_OPTIONS: readonly string[] = Object.freeze([
  ...SCHEDULING_OPTIONS,
  ...optionNames<Omit<HttpCheckOptions, keyof CheckScheduling>>({
    method: true,
    headers: true,
    expectStatus: true,
  }),
]);

const STATUSES: readonly string[] = ['pass', 'warn', 'fail'];

/**
 * A dependency's own health endpoint answers. A 2xx is `pass`; when the body is an IETF health
 * response (`application/health+json`, or JSON with a `status` field) its `warn`/`fail` is carried
 * over, so a degraded dependency degrades this service rather than being read as healthy.
 */
export function httpCheck(url: string | URL, options: HttpCheckOptions = {}): HealthCheckSpec {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return fail('httpCheck url', 'an absolute http(s) URL', url);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    fail('httpCheck url', 'an absolute http(s) URL', String(url));
  const spec = scheduling('httpCheck', options, HTTP_CHECK_OPTIONS);
  const method = options.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') fail('httpCheck method', '"GET" or "HEAD"', method);
  const expectStatus =
    optionalFunction<(status: number) => boolean>('httpCheck expectStatus', options.expectStatus) ??
    ((status: number) => status >= 200 && status < 300);
  const headers = { accept: 'application/health+json, application/json;q=0.9', ...options.headers };
  const href = target.href;

  return {
    ...spec,
    async check(signal: AbortSignal): Promise<HealthCheckResult> {
      const start = performance.now();
      const res = await fetch(href, { method, headers, signal, redirect: 'manual' });
      const text = method === 'HEAD' ? '' : await res.text();
      const ms = elapsedMs(start, performance.now());
      const base = {
        componentType: 'component',
        measurement: 'responseTime',
        observedValue: ms,
        observedUnit: 'ms',
        details: { httpStatus: res.status },
      } as const;
      let reported: HealthStatus | undefined;
      if (/json/i.test(res.headers.get('content-type') ?? '')) {
        try {
          const body = JSON.parse(text) as { status?: unknown } | null;
          if (body && typeof body.status === 'string' && STATUSES.includes(body.status))
            reported = body.status as HealthStatus;
        } catch {
          // Not JSON after all: judge by the HTTP status alone.
        }
      }
      if (!expectStatus(res.status))
        return { ...base, status: 'fail', output: `${href} answered HTTP ${res.status}` };
      if (reported === 'fail' || reported === 'warn')
        return { ...base, status: reported, output: `${href} reports ${reported}` };
      return { ...base, status: 'pass' };
    },
  };
}
