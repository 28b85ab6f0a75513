import { findBinary } from './binaries.js';
import { freePorts } from './ports.js';
import { spawnManaged, type ManagedProcess } from './processes.js';
import { waitFor } from './wait-for.js';

export interface ConsulServer {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The agent's node name (for catalog look-ups). */
  readonly node: string;
  /** True when this is the agent named by CONSUL_HTTP_ADDR, which the testkit neither starts nor stops. */
  readonly external: boolean;
  /** Stops the agent (SIGTERM, then SIGKILL). A dev agent forgets everything it held. */
  stop(): Promise<void>;
  /** Starts a fresh agent on the same ports after `stop()` (an "agent restart"). */
  start(): Promise<void>;
  /** Agent output so far, for failure messages. */
  output(): string;
}

export interface StartConsulOptions {
  /**
   * Always spawn a private agent, even when CONSUL_HTTP_ADDR is set. Tests that stop or restart the
   * agent need their own. @default false
   */
  own?: boolean;
  /** How long to wait for a leader. @default 20000 */
  readyTimeoutMs?: number;
}

function parseAddr(addr: string): URL {
  return new URL(/^https?:\/\//.test(addr) ? addr : `http://${addr}`);
}

async function leaderElected(url: string, node: string): Promise<boolean> {
  const leader = await fetch(`${url}/v1/status/leader`).then((r) => r.json());
  if (typeof leader !== 'string' || leader === '') return false;
  // The node must be in the catalog too, or the first agent registration races anti-entropy.
  const res = await fetch(`${url}/v1/catalog/node/${encodeURIComponent(node)}`);
  if (!res.ok) return false;
  const body = (await res.json()) as unknown;
  return body !== null;
}

/**
 * Starts a real `consul agent -dev` bound to 127.0.0.1 on free ports (HTTP, server RPC, Serf LAN
 * and WAN; DNS and gRPC off) and waits until it has elected itself leader. Uses the agent at
 * CONSUL_HTTP_ADDR instead when that is set (unless `own`).
 */
export async function startConsul(options: StartConsulOptions = {}): Promise<ConsulServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const env = process.env.CONSUL_HTTP_ADDR;
  if (env && !options.own) {
    const url = parseAddr(env);
    const self = (await fetch(new URL('/v1/agent/self', url)).then((r) => r.json())) as {
      Config?: { NodeName?: string };
    };
    return {
      url: url.origin,
      host: url.hostname,
      port: Number(url.port || 80),
      node: self.Config?.NodeName ?? '',
      external: true,
      stop: () =>
        Promise.reject(new Error('testkit: cannot stop the external agent at CONSUL_HTTP_ADDR')),
      start: () => Promise.resolve(),
      output: () => '',
    };
  }
  const bin = findBinary('consul');
  if (!bin)
    throw new Error('testkit: consul not found on PATH (../shared/tools/install-services.sh)');
  const [http, server, serfLan, serfWan] = (await freePorts(4)) as [number, number, number, number];
  const node = `koa-mesh-test-${http}`;
  const url = `http://127.0.0.1:${http}`;
  let proc: ManagedProcess | undefined;

  const launch = async (): Promise<void> => {
    proc = spawnManaged(bin, [
      'agent',
      '-dev',
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      '-advertise=127.0.0.1',
      `-http-port=${http}`,
      `-server-port=${server}`,
      `-serf-lan-port=${serfLan}`,
      `-serf-wan-port=${serfWan}`,
      '-dns-port=-1',
      '-grpc-port=-1',
      `-node=${node}`,
      '-log-level=warn',
    ]);
    const current = proc;
    await waitFor(
      async () => {
        if (current.child.exitCode !== null) {
          throw new Error(`consul exited early:\n${current.output()}`);
        }
        return leaderElected(url, node);
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 50, message: `consul on ${url} to elect a leader` },
    );
  };

  await launch();
  return {
    url,
    host: '127.0.0.1',
    port: http,
    node,
    external: false,
    async stop() {
      await proc?.stop('SIGTERM', 3000);
    },
    async start() {
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) return;
      await launch();
    },
    output: () => proc?.output() ?? '',
  };
}
