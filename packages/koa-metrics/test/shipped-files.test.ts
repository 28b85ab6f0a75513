import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeWith } from '@koa-mesh/testkit';
import Koa from 'koa';
import request from 'supertest';
import { metrics } from '../src/index.js';
import { parseExposition, promtool } from './helpers.js';

const pkgDir = join(__dirname, '..');
const rulesFile = join(pkgDir, 'prometheus', 'rules.yml');
const dashboardFile = join(pkgDir, 'dashboards', 'koa-mesh-red.json');

/** Names in a PromQL text that look like this package's or the runtime's metrics, or rule names. */
function metricNames(promql: string): string[] {
  return [
    ...promql.matchAll(
      /\b(http_[a-z_]+|koa_mesh_[a-z_]+|process_[a-z_]+|nodejs_[a-z_0-9]+|[a-z_]+:[a-z_0-9:]+)\b/g,
    ),
  ].map((m) => m[1]!);
}

async function exposedNames(): Promise<Set<string>> {
  const app = new Koa();
  app.use(metrics({ sizes: true }));
  app.use((ctx) => {
    ctx.body = 'x';
  });
  await request(app.callback()).get('/x');
  const parsed = parseExposition((await request(app.callback()).get('/metrics')).text, false);
  return new Set(parsed.samples.map((s) => s.name));
}

function recordedNames(): string[] {
  return [...readFileSync(rulesFile, 'utf8').matchAll(/^\s*- record: (\S+)$/gm)].map((m) => m[1]!);
}

describeWith(['promtool'], 'shipped Prometheus rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', rulesFile]);
    expect(r.output).toMatch(/SUCCESS: 11 rules found/);
    expect(r.status).toBe(0);
  });

  it('fire on bad series and stay quiet on good ones (promtool test rules)', () => {
    const r = promtool(['test', 'rules', join(pkgDir, 'prometheus', 'rules.test.yml')]);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });
});

describe('shipped rules and dashboard', () => {
  it('use only metric names the middleware exposes (or the rules record)', async () => {
    const known = new Set([...(await exposedNames()), ...recordedNames()]);
    const rules = metricNames(readFileSync(rulesFile, 'utf8').replace(/^\s*#.*$/gm, ''));
    const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
      uid: string;
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(10);
    const used = [...rules, ...exprs.flatMap(metricNames)];
    expect(used).toContain('http_request_duration_seconds_bucket');
    expect(used.filter((n) => !known.has(n))).toEqual([]);
    expect(dashboard.uid).toBe('koa-mesh-red');
  });

  it('are published with the package', () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      files: string[];
    };
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'dashboards', 'prometheus']));
  });
});
