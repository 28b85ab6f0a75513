import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary } from '@koa-mesh/testkit';
import { parseAllDocuments, stringify } from 'yaml';
import { itWith } from './e2e-helpers.js';

// Docker cannot run here, so the compose and Kubernetes files are checked by reading them: every
// YAML file parses, and the properties the README promises hold.
const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking parsed YAML
function load(file: string): any[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    expect({ file: relative(appDir, file), errors: doc.errors.map((e) => e.message) }).toEqual({
      file: relative(appDir, file),
      errors: [],
    });
  }
  return list.map((d) => d.toJS({ maxAliasCount: 100 })).filter((d) => d != null);
}

describe('deployment files', () => {
  const files = yamlFiles(appDir);

  it('finds the compose file, the Prometheus and Grafana configs and the Kubernetes manifests', () => {
    const names = files.map((f) => relative(appDir, f)).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'docker-compose.yml',
        'deploy/prometheus.yml',
        'deploy/grafana/provisioning/datasources/prometheus.yml',
        'deploy/grafana/provisioning/dashboards/koa-mesh.yml',
        'k8s/kustomization.yaml',
        'k8s/users.yaml',
        'k8s/orders.yaml',
      ]),
    );
  });

  it.each(yamlFiles(appDir).map((f) => [relative(appDir, f), f]))('%s parses', (_, file) => {
    expect(load(file).length).toBeGreaterThan(0);
  });

  it('composes Consul, Redis, Jaeger, Prometheus, Grafana and the services, mounting files that exist', () => {
    const [compose] = load(join(appDir, 'docker-compose.yml'));
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'consul',
        'grafana',
        'jaeger',
        'orders-v1',
        'orders-v2',
        'prometheus',
        'redis',
        'users',
      ].sort(),
    );
    for (const [name, service] of Object.entries<{ volumes?: string[] }>(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const host = volume.split(':')[0]!;
        expect({ name, host, exists: existsSync(resolve(appDir, host)) }).toEqual({
          name,
          host,
          exists: true,
        });
      }
    }
    // The services reach each other and Consul by their compose names.
    for (const name of ['users', 'orders-v1', 'orders-v2']) {
      const env = compose.services[name].environment;
      expect(env).toMatchObject({
        CONSUL_HTTP_ADDR: 'http://consul:8500',
        ADVERTISE_HOST: name,
        HOST: '0.0.0.0',
      });
      expect(compose.services[name].build.dockerfile).toBe('apps/demo-user-service/Dockerfile');
    }
    expect(
      existsSync(resolve(appDir, compose.services.users.build.context, 'pnpm-workspace.yaml')),
    ).toBe(true);
  });

  it('loads koa-metrics rules in Prometheus and scrapes what registered in Consul', () => {
    const [prom] = load(join(appDir, 'deploy/prometheus.yml'));
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/koa-metrics.yml']);
    expect(prom.scrape_configs[0].consul_sd_configs[0]).toMatchObject({
      server: 'consul:8500',
      tags: ['koa-mesh-demo'],
    });
  });

  itWith(
    'promtool',
    'has a Prometheus config that promtool accepts, with the rules it mounts',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'koa-mesh-prom-'));
      try {
        // The compose mount, done by hand: the rules file where prometheus.yml expects it. Debian's
        // promtool is built without Consul service discovery, so the check sees a static target in
        // place of consul_sd_configs; everything else (rules, relabelling) is checked as shipped.
        const rules = resolve(appDir, '../../packages/koa-metrics/prometheus/rules.yml');
        const [prom] = load(join(appDir, 'deploy/prometheus.yml'));
        prom.rule_files = [rules];
        for (const job of prom.scrape_configs) {
          if (job.consul_sd_configs) {
            delete job.consul_sd_configs;
            job.static_configs = [{ targets: ['users:3000'] }];
          }
        }
        const config = stringify(prom);
        writeFileSync(join(dir, 'prometheus.yml'), config);
        const out = spawnSync(
          findBinary('promtool')!,
          ['check', 'config', join(dir, 'prometheus.yml')],
          {
            encoding: 'utf8',
          },
        );
        expect({ status: out.status, output: `${out.stdout}${out.stderr}` }).toMatchObject({
          status: 0,
        });
        expect(out.stdout).toMatch(/SUCCESS: \d+ rules found/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('gives every address in the Kubernetes ConfigMap a Service of the kustomization (Redis included)', () => {
    const kustomization = load(join(appDir, 'k8s/kustomization.yaml'))[0];
    const docs = (kustomization.resources as string[]).flatMap((r) => load(join(appDir, 'k8s', r)));
    const ports = new Map<string, number[]>(
      docs
        .filter((d) => d.kind === 'Service')
        .map((d) => [d.metadata.name, d.spec.ports.map((p: { port: number }) => p.port)]),
    );
    const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'koa-mesh-demo');
    const urls = Object.entries<string>(config.data)
      .filter(([name]) => /_URLS?$|_ADDR$/.test(name))
      .flatMap(([name, value]) => value.split(',').map((url) => ({ name, url: new URL(url) })));
    expect(urls.map((u) => u.name)).toEqual(
      expect.arrayContaining(['REDIS_URL', 'ORDERS_V1_URLS', 'ORDERS_V2_URLS']),
    );
    for (const { name, url } of urls) {
      expect({ name, host: url.hostname, ports: ports.get(url.hostname) }).toEqual({
        name,
        host: url.hostname,
        ports: expect.arrayContaining([Number(url.port)]),
      });
    }
    // A Service that selects nothing is no better than none: each one selects a Deployment's pods.
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    for (const svc of docs.filter((d) => d.kind === 'Service')) {
      const selected = deployments.filter((d) =>
        Object.entries<string>(svc.spec.selector).every(
          ([k, v]) => d.spec.template.metadata.labels[k] === v,
        ),
      );
      expect({ service: svc.metadata.name, selects: selected.length }).toEqual({
        service: svc.metadata.name,
        selects: 1,
      });
    }
  });

  it('copies into the image every repository file the workspace build reads', () => {
    // The image builds the packages and the app from the repository root (the compose build
    // context); a file their tsup or TypeScript configs import that is not COPY'd fails the build.
    const root = resolve(appDir, '../..');
    const dockerfile = readFileSync(join(appDir, 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
      const words = m[1]!.trim().split(/\s+/);
      return words.slice(0, -1).filter((w) => !w.startsWith('--'));
    });
    for (const source of copied)
      expect({ source, exists: existsSync(join(root, source)) }).toEqual({ source, exists: true });
    const isCopied = (path: string): boolean =>
      copied.some((c) => path === c || path.startsWith(`${c.replace(/\/+$/, '')}/`));

    const configDirs = [
      ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p)),
      appDir,
    ].filter((dir) => existsSync(join(dir, 'tsconfig.json')));
    const needed = new Set<string>();
    for (const dir of configDirs) {
      const tsup = join(dir, 'tsup.config.ts');
      if (existsSync(tsup)) {
        for (const [, spec] of readFileSync(tsup, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
          const target = resolve(dir, spec!);
          needed.add(existsSync(target) ? target : target.replace(/\.js$/, '.ts'));
        }
      }
      let tsconfig: string | undefined = join(dir, 'tsconfig.json');
      while (tsconfig !== undefined) {
        needed.add(tsconfig);
        const base: string | undefined = /"extends":\s*"(\.{1,2}\/[^"]+)"/.exec(
          readFileSync(tsconfig, 'utf8'),
        )?.[1];
        tsconfig = base === undefined ? undefined : resolve(dirname(tsconfig), base);
      }
    }
    const missing = [...needed].map((f) => relative(root, f)).filter((f) => !isCopied(f));
    expect(missing).toEqual([]);
  });

  it('gives every Kubernetes container the three probes on the health paths, limits, and no preStop hook', () => {
    const docs = ['k8s/users.yaml', 'k8s/orders.yaml'].flatMap((f) => load(join(appDir, f)));
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'orders-v1',
      'orders-v2',
      'users',
    ]);
    for (const d of deployments) {
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(20);
      for (const c of d.spec.template.spec.containers) {
        expect(c.startupProbe.httpGet.path).toBe('/startup');
        expect(c.livenessProbe.httpGet.path).toBe('/health');
        expect(c.readinessProbe.httpGet.path).toBe('/ready');
        expect(c.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
        expect(c.resources.requests).toEqual({
          cpu: expect.any(String),
          memory: expect.any(String),
        });
        expect(c.lifecycle?.preStop).toBeUndefined();
      }
    }
    const kustomization = load(join(appDir, 'k8s/kustomization.yaml'))[0];
    for (const r of kustomization.resources as string[])
      expect(existsSync(join(appDir, 'k8s', r))).toBe(true);
  });
});
