import { fileURLToPath } from 'node:url';
import {
  freePort,
  missingService,
  servicesRequired,
  startNode,
  type ManagedProcess,
  type ServiceName,
} from '@koa-mesh/testkit';

const src = (file: string): string => fileURLToPath(new URL(`../src/${file}`, import.meta.url));

/** A service started as a child process (`src/*-main.ts` through tsx). */
export interface Child {
  url: string;
  port: number;
  proc: ManagedProcess;
}

const BASE_ENV = {
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  HEALTH_CHECK_INTERVAL_MS: '300',
  CONSUL_CHECK_INTERVAL_MS: '1000',
  SHUTDOWN_DRAIN_DELAY_MS: '100',
};

async function start(script: string, env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const proc = await startNode(src(script), {
    env: { ...process.env, ...BASE_ENV, ...env, PORT: String(port) },
    readyLine: /listening on/,
    readyTimeoutMs: 60_000,
  });
  return { url: `http://127.0.0.1:${port}`, port, proc };
}

export function startOrders(
  version: 'v1' | 'v2',
  env: Record<string, string> = {},
): Promise<Child> {
  return start('orders-main.ts', { ORDERS_VERSION: version, ...env });
}

/** Runs the users executable with `env` and no readiness wait, for start-up failures. */
export async function runUsers(env: Record<string, string>): Promise<ManagedProcess> {
  return startNode(src('users-main.ts'), { env: { ...process.env, ...BASE_ENV, ...env } });
}

export function startUsers(env: Record<string, string> = {}): Promise<Child> {
  return start('users-main.ts', {
    JWT_SECRET: 'e2e-secret-shared-by-every-users-process!',
    ...env,
  });
}

/** A reply as tests read it: the body is parsed JSON (or the text). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies read by tests
export type Reply = { status: number; headers: Headers; body: any };

/** A JSON request to a child service. */
export async function call(
  base: string,
  path: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, base), {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON (the metrics exposition)
  }
  return { status: res.status, headers: res.headers, body };
}

export async function loginAs(
  base: string,
  email: string,
  password: string,
): Promise<{ token: string; id: string }> {
  const res = await call(base, '/auth/login', { method: 'POST', body: { email, password } });
  if (res.status !== 200)
    throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.accessToken, id: res.body.user.id };
}

export async function stopAll(children: Array<Child | undefined>): Promise<void> {
  await Promise.all(children.map((c) => c?.proc.stop('SIGTERM', 5000)));
}

/**
 * `it` for one test that needs a binary (promtool) inside a suite that does not: skipped with the
 * reason in its title when the binary is missing, failed instead under KOA_MESH_REQUIRE_SERVICES=1.
 */
export function itWith(service: ServiceName, title: string, fn: () => Promise<void>): void {
  const reason = missingService(service);
  if (reason === undefined) it(title, fn);
  else if (servicesRequired())
    it(title, () => Promise.reject(new Error(`KOA_MESH_REQUIRE_SERVICES=1 but ${reason}`)));
  else it.skip(`${title} (skipped: ${reason})`, fn);
}
