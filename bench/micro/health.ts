import { health, heapCheck } from '@koa-mesh/health';
import type { Context, Next } from 'koa';
import { defineMicro } from '../lib/scenario.js';

/**
 * The middleware called directly with a minimal context: a probe answered from the cache (the
 * rendered body is reused until a check result changes) and the pass-through of other requests.
 */
function fakeContext(url: string): Context {
  const headers: Record<string, string> = {};
  return {
    url,
    method: 'GET',
    status: 404,
    body: undefined,
    state: {},
    set(name: string, value: string) {
      headers[name] = value;
    },
  } as unknown as Context;
}

// Synchronous on purpose: the harness awaits a returned promise, which would dwarf the cost of
// matching the path.
const next = (() => undefined) as unknown as Next;

export default defineMicro([
  {
    name: 'health: cached probe (GET /ready)',
    async setup() {
      const probes = health({ initiallyReady: true, checks: { heap: heapCheck() } });
      await probes.refresh();
      const ctx = fakeContext('/ready');
      return () => probes(ctx, next);
    },
    iterations: 1_000_000,
  },
  {
    name: 'health: pass-through of a non-probe request',
    setup() {
      const probes = health({ initiallyReady: true });
      const ctx = fakeContext('/users/1?expand=roles');
      return () => probes(ctx, next);
    },
    iterations: 1_000_000,
  },
]);
