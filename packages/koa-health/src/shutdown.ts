import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ShutdownStepError, type ShutdownStep } from './errors.js';
import {
  normalizeShutdownOptions,
  type GracefulShutdownOptions,
  type ShutdownHook,
} from './shutdown-options.js';
import { fail } from './validate.js';

/** How a graceful shutdown ended. */
export interface ShutdownResult {
  /** 0 when every step finished in time, 1 otherwise. */
  exitCode: 0 | 1;
  /** The signal (or the reason given to `shutdown()`) that started it. */
  reason: string;
  /** Every step that failed, in order; the first one names the exit. */
  errors: ShutdownStepError[];
  /** Milliseconds spent in each step, and in all. */
  durations: Record<ShutdownStep, number> & { total: number };
}

/** The orchestrator {@link gracefulShutdown} returns. */
export interface GracefulShutdown {
  /**
   * Runs the shutdown (what a signal does). Calling it again, or a second signal, returns the run
   * already under way: it is never restarted.
   */
  shutdown(reason?: string): Promise<ShutdownResult>;
  /** `idle` until a signal, then `beforeDrain`, `drain`, `close`, `onClose`, `done`. */
  readonly state: 'idle' | ShutdownStep | 'done';
  /** Requests being served right now. */
  readonly inflight: number;
  /** Removes the signal handlers and the server listener (for tests and hot reload). */
  dispose(): void;
}

const PREFIX = '@koa-mesh/health: shutdown:';

/** On a socket: the response to the newest request received on it. */
const NEWEST = Symbol('koa-mesh.health.newestResponse');
/** On a response: `Connection: close` was set here, not by the app. */
const MARKED = Symbol('koa-mesh.health.connectionClose');

type TrackedSocket = Socket & { [NEWEST]?: ServerResponse };
type TrackedResponse = ServerResponse & { [MARKED]?: boolean };

/**
 * Marks `res` to close its connection, if it is the newest response of its socket. Node ends the
 * connection after the first response carrying `Connection: close`: pipelined requests behind it,
 * already handed to the app (their work done), would never be answered. So only the response to
 * the last request received on a connection carries it.
 */
function markClose(res: TrackedResponse): void {
  if (res.headersSent || (res.req.socket as TrackedSocket)[NEWEST] !== res) return;
  res.setHeader('Connection', 'close');
  res[MARKED] = true;
}

function hookName(hook: ShutdownHook, index: number): string {
  return hook.name ? `"${hook.name}"` : `#${index + 1}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Graceful shutdown for a Node HTTP server serving Koa, in an order that drops no request:
 *
 * 1. at SIGTERM/SIGINT, readiness fails at once and `beforeDrain` hooks run (deregister);
 *    from now on every response carries `Connection: close`, so keep-alive clients reconnect
 *    (to other instances) instead of holding this one open;
 * 2. `drainDelayMs` of serving while load balancers and discovery caches notice;
 * 3. the listener closes, idle connections are closed, in-flight requests finish within
 *    `timeoutMs` (then their connections are destroyed);
 * 4. `onClose` hooks run (close Redis, flush exporters), then exit 0, or exit 1 naming the step
 *    that failed or overran.
 *
 * Liveness is never touched: it answers 200 until the listener closes.
 *
 * @example
 * gracefulShutdown(server, {
 *   health: probes,
 *   beforeDrain: () => discovery.deregister(), // leave Consul, keep calling out while draining
 *   onClose: () => discovery.stop(),
 * });
 */
export function gracefulShutdown(
  server: Server,
  options: GracefulShutdownOptions = {},
): GracefulShutdown {
  if (
    typeof server !== 'object' ||
    server === null ||
    typeof server.close !== 'function' ||
    typeof server.closeIdleConnections !== 'function'
  )
    fail('server', 'a node:http or node:https Server', server);
  const o = normalizeShutdownOptions(options);
  const { logger } = o;

  const worstCase =
    (o.beforeDrain.length > 0 ? o.hookTimeoutMs : 0) +
    o.drainDelayMs +
    o.timeoutMs +
    (o.onClose.length > 0 ? o.hookTimeoutMs : 0);
  if (worstCase > o.terminationGracePeriodMs)
    logger.warn(
      `${PREFIX} the steps may take up to ${worstCase} ms (hooks, drainDelayMs ${o.drainDelayMs}, timeoutMs ${o.timeoutMs}), more than terminationGracePeriodMs ${o.terminationGracePeriodMs}: the orchestrator may kill the process first`,
    );

  const inflight = new Set<ServerResponse>();
  let draining = false;
  let closing = false;
  let state: GracefulShutdown['state'] = 'idle';
  let running: Promise<ShutdownResult> | undefined;

  // Shared listeners (no closure per request): `this` is the response.
  function onResponseClose(this: ServerResponse): void {
    inflight.delete(this);
    // A response that went out without `Connection: close` (headers sent before the drain, or
    // wiped by Koa's error handler) left its connection alive: once the server is closing, close
    // it now rather than after the keep-alive timeout. Not while pipelined responses wait behind
    // this one: Node counts a connection whose requests have all been read as idle, and would
    // destroy it before they are written.
    if (closing && (this.req.socket as TrackedSocket)[NEWEST] === this)
      server.closeIdleConnections();
  }
  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TrackedSocket;
    const previous: TrackedResponse | undefined = socket[NEWEST];
    socket[NEWEST] = res;
    if (draining) {
      // A request pipelined behind one not answered yet: the close moves on to the newer response.
      if (previous?.[MARKED] === true && !previous.headersSent) {
        previous.removeHeader('Connection');
        previous[MARKED] = false;
      }
      markClose(res);
    }
    inflight.add(res);
    res.on('close', onResponseClose);
  }
  // First, so that the header is set before any other listener can write the response.
  server.prependListener('request', onRequest);

  const signalHandlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of o.signals) {
    const handler = (): void => {
      if (running) {
        logger.warn(
          `${PREFIX} ${signal} received again, shutdown already under way (state ${state})`,
        );
        return;
      }
      void shutdown(signal);
    };
    signalHandlers.set(signal, handler);
    process.on(signal, handler);
  }

  /** A promise settled after `ms`; ref'd on purpose: a shutdown must reach its exit. */
  const after = (ms: number): { promise: Promise<'timeout'>; cancel: () => void } => {
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms);
    });
    return { promise, cancel: () => clearTimeout(timer) };
  };

  const runHooks = async (
    step: 'beforeDrain' | 'onClose',
    hooks: ShutdownHook[],
    errors: ShutdownStepError[],
  ): Promise<void> => {
    if (hooks.length === 0) return;
    let current = '';
    const work = (async () => {
      for (const [i, hook] of hooks.entries()) {
        current = hookName(hook, i);
        logger.info(`${PREFIX} ${step} hook ${current}`);
        try {
          await hook();
        } catch (err) {
          errors.push(
            new ShutdownStepError(step, 'hook', `hook ${current} threw: ${message(err)}`, {
              cause: err,
            }),
          );
        }
      }
      return 'done' as const;
    })();
    const deadline = after(o.hookTimeoutMs);
    const outcome = await Promise.race([work, deadline.promise]);
    deadline.cancel();
    if (outcome === 'timeout')
      errors.push(
        new ShutdownStepError(
          step,
          'timeout',
          `exceeded its ${o.hookTimeoutMs} ms deadline in hook ${current}`,
        ),
      );
  };

  const closeServer = async (errors: ShutdownStepError[]): Promise<void> => {
    closing = true;
    const closed = new Promise<void>((resolve) => {
      // An error here means "not listening": nothing to wait for.
      server.close(() => resolve());
    });
    // Node 20's close() closes idle connections itself; busy ones close after their response
    // because it carries `Connection: close` (set at the signal or just now).
    server.closeIdleConnections();
    const deadline = after(o.timeoutMs);
    const outcome = await Promise.race([closed.then(() => 'closed' as const), deadline.promise]);
    deadline.cancel();
    if (outcome === 'timeout') {
      errors.push(
        new ShutdownStepError(
          'close',
          'timeout',
          `exceeded its ${o.timeoutMs} ms deadline with ${inflight.size} request(s) still in flight`,
        ),
      );
      server.closeAllConnections();
      const grace = after(1000);
      await Promise.race([closed, grace.promise]);
      grace.cancel();
    }
  };

  const run = async (reason: string): Promise<ShutdownResult> => {
    const t0 = performance.now();
    const errors: ShutdownStepError[] = [];
    const durations = { beforeDrain: 0, drain: 0, close: 0, onClose: 0, total: 0 };
    const timed = async (step: ShutdownStep, work: () => Promise<void>): Promise<void> => {
      state = step;
      const t = performance.now();
      await work();
      durations[step] = Math.round(performance.now() - t);
    };

    // Step 1: stop getting traffic.
    draining = true;
    o.health?.beginShutdown();
    for (const res of inflight) markClose(res);
    logger.info(`${PREFIX} ${reason} received, readiness fails from now on`);
    await timed('beforeDrain', () => runHooks('beforeDrain', o.beforeDrain, errors));

    // Step 2: keep serving while the rest of the system notices.
    await timed('drain', async () => {
      logger.info(`${PREFIX} drain: serving ${o.drainDelayMs} ms more`);
      if (o.drainDelayMs > 0) await after(o.drainDelayMs).promise;
    });

    // Step 3: stop listening, let in-flight requests finish.
    await timed('close', async () => {
      logger.info(`${PREFIX} close: listener closed, ${inflight.size} request(s) in flight`);
      await closeServer(errors);
    });
    try {
      o.health?.close();
    } catch (err) {
      errors.push(new ShutdownStepError('close', 'hook', `health.close() threw: ${message(err)}`));
    }

    // Step 4: free what the process holds.
    await timed('onClose', () => runHooks('onClose', o.onClose, errors));

    durations.total = Math.round(performance.now() - t0);
    state = 'done';
    const exitCode = errors.length === 0 ? 0 : 1;
    for (const err of errors) logger.error(err.message);
    logger.info(
      `${PREFIX} done in ${durations.total} ms (beforeDrain ${durations.beforeDrain}, drain ${durations.drain}, close ${durations.close}, onClose ${durations.onClose}), exit ${exitCode}`,
    );
    return { exitCode, reason, errors, durations };
  };

  const shutdown = (reason = 'shutdown()'): Promise<ShutdownResult> => {
    running ??= run(reason)
      .catch((err: unknown): ShutdownResult => {
        // Only a throwing logger can get here; the process must still exit.
        const step = state === 'idle' || state === 'done' ? 'beforeDrain' : state;
        state = 'done';
        const error = new ShutdownStepError(step, 'hook', `failed: ${message(err)}`, {
          cause: err,
        });
        return {
          exitCode: 1,
          reason,
          errors: [error],
          durations: { beforeDrain: 0, drain: 0, close: 0, onClose: 0, total: 0 },
        };
      })
      .then((result) => {
        o.exit(result.exitCode);
        return result;
      });
    return running;
  };

  return {
    shutdown,
    get state() {
      return state;
    },
    get inflight() {
      return inflight.size;
    },
    dispose(): void {
      for (const [signal, handler] of signalHandlers) process.off(signal, handler);
      signalHandlers.clear();
      server.off('request', onRequest);
    },
  };
}
