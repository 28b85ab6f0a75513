import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The absolute path of `name` on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether the run must fail, rather than skip, when a service binary is missing. */
export function servicesRequired(): boolean {
  return process.env.KOA_MESH_REQUIRE_SERVICES === '1';
}

export type ServiceName = 'consul' | 'redis' | 'promtool';

const binaryOf: Record<ServiceName, string> = {
  consul: 'consul',
  redis: 'redis-server',
  promtool: 'promtool',
};

const envOf: Partial<Record<ServiceName, string>> = {
  consul: 'CONSUL_HTTP_ADDR',
  redis: 'REDIS_URL',
};

/** Why `service` cannot be used here, or undefined when it can (binary on PATH or env var set). */
export function missingService(service: ServiceName): string | undefined {
  const env = envOf[service];
  if (env && process.env[env]) return undefined;
  const bin = binaryOf[service];
  if (findBinary(bin)) return undefined;
  return `${bin} not found on PATH${env ? ` and ${env} not set` : ''} (install it with ../shared/tools/install-services.sh)`;
}

/**
 * `describe` for tests that need real services. When one is missing the block is skipped with a
 * visible reason naming the binary; with KOA_MESH_REQUIRE_SERVICES=1 it fails instead.
 */
export function describeWith(
  services: readonly ServiceName[],
  title: string,
  body: () => void,
): void {
  const reasons = services.map(missingService).filter((r): r is string => r !== undefined);
  if (reasons.length === 0) {
    describe(title, body);
    return;
  }
  const reason = reasons.join('; ');
  if (servicesRequired()) {
    describe(title, () => {
      it('has the services it needs', () => {
        throw new Error(`KOA_MESH_REQUIRE_SERVICES=1 but ${reason}`);
      });
    });
    return;
  }
  // A skipped block with the reason in its title, plus one line on stderr, so a green run that
  // skipped integration tests says so.
  process.stderr.write(`[koa-mesh testkit] skipping "${title}": ${reason}\n`);
  describe.skip(`${title} (skipped: ${reason})`, body);
}
