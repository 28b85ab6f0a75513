import { get } from 'node:http';
import { join } from 'node:path';
import { freePort, missingService, startNode } from '@koa-mesh/testkit';
import { parseExposition, promtoolCheckMetrics, value } from './helpers.js';

/** GET over a fresh connection, so the cluster's round-robin spreads requests over workers. */
function getFresh(url: string): Promise<{ status: number; worker: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, worker: String(res.headers['x-worker']), body }),
      );
    }).on('error', reject);
  });
}

describe('cluster mode (real cluster.fork, two workers)', () => {
  it('serves the sum of every worker’s metrics from the primary, promtool-clean', async () => {
    const appPort = await freePort();
    const proc = await startNode(join(__dirname, 'fixtures', 'cluster-app.ts'), {
      env: { ...process.env, APP_PORT: String(appPort) },
      readyLine: /READY metrics=\d+/,
      readyTimeoutMs: 30_000,
    });
    try {
      const metricsPort = Number(/READY metrics=(\d+)/.exec(proc.output())![1]);
      const workers = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await getFresh(`http://127.0.0.1:${appPort}/anything/${i}`);
        expect(r.status).toBe(200);
        workers.add(r.worker);
      }
      expect(workers.size).toBe(2);
      // A worker's own port serves no per-worker slice at /metrics in cluster mode (and, being the
      // metrics path, that request is not recorded).
      expect((await getFresh(`http://127.0.0.1:${appPort}/metrics`)).body).toBe('ok');

      const res = await getFresh(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      const p = parseExposition(res.body, false);
      expect(value(p, 'http_requests_total', { route: '__unmatched__', status_code: '200' })).toBe(
        40,
      );
      expect(value(p, 'http_request_duration_seconds_count', { route: '__unmatched__' })).toBe(40);
      expect(
        value(p, 'http_request_duration_seconds_bucket', { route: '__unmatched__', le: '+Inf' }),
      ).toBe(40);
      if (missingService('promtool') === undefined) {
        const check = promtoolCheckMetrics(res.body);
        expect(check.output).toBe('');
      }
    } finally {
      await proc.stop('SIGTERM', 5000);
    }
  });
});
