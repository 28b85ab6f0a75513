import { performance } from 'node:perf_hooks';
import type { HealthCheckResult, HealthCheckSpec } from '../types.js';
import { fail, optionalString } from '../validate.js';
import { optionNames } from '../known-keys.js';
import { elapsedMs, scheduling, SCHEDULING_OPTIONS, type CheckScheduling } from './spec-options.js';

/** Options of {@link consulCheck}. */
export interface ConsulCheckOptions extends CheckScheduling {
  /** The local agent's HTTP API. @default 'http://127.0.0.1:8500' */
  url?: string | URL;
  /** ACL token sent as `X-Consul-Token`. */
  token?: string;
}

const CONSUL_CHECK_OPTIONS: readonly string[] = Object.freeze([
  ...SCHEDULING_OPTIONS,
  ...optionNames<Omit<ConsulCheckOptions, keyof CheckScheduling>>({
    url: true,
    token: true,
  }),
]);

/**
 * The Consul agent answers and its cluster has a leader (`GET /v1/status/leader`), over plain
 * HTTP: no Consul client is loaded. Without a leader, registrations and KV writes fail, so
 * discovery-dependent traffic should go elsewhere.
 */
export function consulCheck(options: ConsulCheckOptions = {}): HealthCheckSpec {
  const spec = scheduling('consulCheck', options, CONSUL_CHECK_OPTIONS);
  const base = options.url ?? 'http://127.0.0.1:8500';
  let endpoint: URL;
  try {
    endpoint = new URL('/v1/status/leader', base);
  } catch {
    return fail('consulCheck url', 'an absolute http(s) URL', base);
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:')
    fail('consulCheck url', 'an absolute http(s) URL', String(base));
  const token = optionalString('consulCheck token', options.token);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers['x-consul-token'] = token;
  const href = endpoint.href;

  return {
    ...spec,
    async check(signal: AbortSignal): Promise<HealthCheckResult> {
      const start = performance.now();
      const res = await fetch(href, { headers, signal });
      const text = await res.text();
      const ms = elapsedMs(start, performance.now());
      const base = {
        componentType: 'component',
        measurement: 'leader',
        details: { responseTimeMs: ms },
      } as const;
      if (!res.ok) return { ...base, status: 'fail', output: `consul answered HTTP ${res.status}` };
      let leader: unknown;
      try {
        leader = JSON.parse(text);
      } catch {
        return { ...base, status: 'fail', output: 'consul answered a body that is not JSON' };
      }
      if (typeof leader !== 'string' || leader === '')
        return { ...base, status: 'fail', output: 'consul cluster has no leader' };
      return { ...base, status: 'pass', observedValue: leader };
    },
  };
}
