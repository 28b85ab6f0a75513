/**
 * `pnpm demo`: starts orders v1, orders v2 and the users service as child processes with the
 * embedded defaults (static registry, in-memory rate limiting, no tracing exporter), then prints
 * the URLs and a walkthrough to paste. Ctrl-C stops all three.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const script = (name: string): string => fileURLToPath(new URL(`./${name}${ext}`, import.meta.url));

const host = '127.0.0.1';
const usersPort = Number(process.env.DEMO_USERS_PORT ?? 3000);
const v1Port = Number(process.env.DEMO_ORDERS_V1_PORT ?? 4001);
const v2Port = Number(process.env.DEMO_ORDERS_V2_PORT ?? 4002);
const children: ChildProcess[] = [];

function start(label: string, file: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...process.execArgv, file], {
    env: { ...process.env, HOST: host, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let ready = false;
    const prefix = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      for (const line of text.split('\n'))
        if (line !== '') process.stdout.write(`[${label}] ${line}\n`);
      if (!ready && /listening on/.test(text)) {
        ready = true;
        resolve(child);
      }
    };
    child.stdout?.on('data', prefix);
    child.stderr?.on('data', prefix);
    child.once('exit', (code, signal) => {
      if (!ready) reject(new Error(`${label} exited (${code ?? signal}) before it was ready`));
      else if (!stopping) {
        process.stdout.write(`[demo] ${label} exited (${code ?? signal}); stopping the demo\n`);
        void stop(1);
      }
    });
  });
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  await Promise.all([
    start('orders v1', script('orders-main'), { PORT: String(v1Port), ORDERS_VERSION: 'v1' }),
    start('orders v2', script('orders-main'), {
      PORT: String(v2Port),
      ORDERS_VERSION: 'v2',
      ORDERS_DELAY_MS: process.env.DEMO_ORDERS_V2_DELAY_MS ?? '0',
      ORDERS_FAILURE_RATE: process.env.DEMO_ORDERS_V2_FAILURE_RATE ?? '0',
    }),
  ]);
  await start('users', script('users-main'), {
    PORT: String(usersPort),
    ORDERS_V1_URLS: `http://${host}:${v1Port}`,
    ORDERS_V2_URLS: `http://${host}:${v2Port}`,
  });
} catch (err) {
  process.stderr.write(`[demo] ${(err as Error).message}\n`);
  await stop(1);
}

const u = `http://${host}:${usersPort}`;
process.stdout.write(`
koa-mesh demo is up (embedded defaults: static registry, in-memory rate limit, no exporter)

  users service   ${u}      (API, /health, /ready, /startup, /metrics)
  orders v1       http://${host}:${v1Port}
  orders v2       http://${host}:${v2Port}  (the canary)

Walkthrough (paste into another shell; needs only curl and node):

  U=${u}
  json() { node -pe "JSON.parse(require('fs').readFileSync(0, 'utf8')).$1"; }

  # 1. log in as Alice (demo accounts, see the README: alice, tess the tester, ada the admin)
  LOGIN=$(curl -s -X POST $U/auth/login -H 'content-type: application/json' \\
    -d '{"email":"alice@example.com","password":"alice-password-1"}')
  TOKEN=$(echo "$LOGIN" | json accessToken); ME=$(echo "$LOGIN" | json user.id)

  # 2. the users API behind the JWT
  curl -s $U/api/users -H "authorization: Bearer $TOKEN"

  # 3. her orders: discovery → canary (sticky per user: same X-Service-Version every time) → breaker
  curl -si $U/api/users/$ME/orders -H "authorization: Bearer $TOKEN"

  # 4. a tester may pick the canary with a header; the same header from Alice changes nothing
  TESS=$(curl -s -X POST $U/auth/login -H 'content-type: application/json' \\
    -d '{"email":"tess@example.com","password":"tess-password-1"}')
  curl -s $U/api/users/$(echo "$TESS" | json user.id)/orders -H 'x-canary: canary' \\
    -H "authorization: Bearer $(echo "$TESS" | json accessToken)"
  curl -si $U/api/users/$ME/orders -H "authorization: Bearer $TOKEN" -H 'x-canary: canary'

  # 5. your trace id reaches the orders service (see upstream.traceId)
  curl -s $U/api/users/$ME/orders -H "authorization: Bearer $TOKEN" \\
    -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

  # 6. bad input is a 400/401 problem+json with the request id, never a 500
  curl -s $U/api/users/not-a-uuid -H "authorization: Bearer $TOKEN"
  curl -s $U/api/users -H 'authorization: Bearer not.a.token'

  # 7. metrics and health
  curl -s $U/metrics | grep '^http_requests_total'
  curl -s $U/ready

  Make the canary fail to watch the breaker open and the degraded fallback:
  DEMO_ORDERS_V2_FAILURE_RATE=1 pnpm demo   (or DEMO_ORDERS_V2_DELAY_MS=3000)

Ctrl-C stops everything.
`);
