import type { Server } from 'node:http';
import type { Context, Next } from 'koa';
import { normalizeCheck } from './check.js';
import { CheckRunner } from './check-runner.js';
import { normalizeOptions, type HealthOptions } from './options.js';
import { detailedReport, httpStatus, verdict, type HealthReport } from './report.js';
import { gracefulShutdown, type GracefulShutdown } from './shutdown.js';
import type { GracefulShutdownOptions } from './shutdown-options.js';
import type { CheckSnapshot, HealthCheckInput, HealthStatus, ProbeKind } from './types.js';
import { optionalString } from './validate.js';

/** The middleware `health()` returns, with the controls of the probes. */
export interface HealthMiddleware {
  (ctx: Context, next: Next): Promise<unknown> | unknown;
  /** Readiness may pass (once startup checks, if any, have passed). */
  markReady(): void;
  /** Readiness fails with `reason` as output until `markReady()`. */
  markNotReady(reason?: string): void;
  /**
   * Registers a check by name and starts it (a first run at once, then every `intervalMs`).
   * Throws a TypeError for a bad check or a name already taken.
   */
  addCheck(name: string, check: HealthCheckInput): void;
  /** Runs every check now; concurrent callers share the runs in flight. Never rejects. */
  refresh(): Promise<void>;
  /** The current answer of a probe, with details (what a detail-allowed caller sees). */
  report(kind: ProbeKind): HealthReport;
  /** The cached state of every check. */
  checks(): CheckSnapshot[];
  /**
   * Readiness fails from now on, for good (`markReady()` no longer lifts it); liveness is not
   * touched. Called by the graceful shutdown on SIGTERM.
   */
  beginShutdown(): void;
  /** True once `beginShutdown()` was called. */
  readonly shuttingDown: boolean;
  /**
   * Builds the shutdown orchestrator for `server` with this middleware as its `health`
   * (see {@link gracefulShutdown}).
   */
  gracefulShutdown(
    server: Server,
    options?: Omit<GracefulShutdownOptions, 'health'>,
  ): GracefulShutdown;
  /** Stops every check loop and frees what the checks hold. Probes keep answering the last state. */
  close(): void;
}

interface Rendered {
  generation: number;
  status: number;
  body: Buffer;
}

const KIND_INDEX: Record<ProbeKind, number> = { liveness: 0, readiness: 1, startup: 2 };

/**
 * Liveness, readiness and startup probes for Koa, answered from cached check results in the IETF
 * health check format (`application/health+json`).
 *
 * @example
 * const probes = health({ checks: { redis: redisCheck(redis) } });
 * app.use(probes);
 * server.listen(3000, () => probes.markReady());
 */
export function health(options: HealthOptions = {}): HealthMiddleware {
  const o = normalizeOptions(options);
  // Matched on the raw URL without slicing off the query: the pass-through of ordinary requests
  // allocates nothing.
  const routePaths = [o.paths.liveness, o.paths.readiness, o.paths.startup];
  const routeKinds: ProbeKind[] = ['liveness', 'readiness', 'startup'];
  const probeOf = (url: string): ProbeKind | undefined => {
    for (let i = 0; i < 3; i++) {
      const path = routePaths[i]!;
      if (
        url.startsWith(path) &&
        (url.length === path.length || url.charCodeAt(path.length) === 63) // '?'
      )
        return routeKinds[i];
    }
    return undefined;
  };
  const runners = new Map<string, CheckRunner>();
  const byKind: Record<ProbeKind, CheckRunner[]> = { liveness: [], readiness: [], startup: [] };
  const service = {
    version: o.version,
    releaseId: o.releaseId,
    serviceId: o.serviceId,
    description: o.description,
  };
  const allowDetails = o.details;
  const onCheckChange = o.onCheckChange;

  // Every change of what a probe could answer bumps the generation; rendered bodies are cached
  // per (probe, details) and rebuilt only when it moved, so a probe costs a path match and an array read.
  let generation = 0;
  const rendered: Array<Rendered | undefined> = new Array(6);
  let readySignalled = o.initiallyReady;
  let ready = o.initiallyReady;
  let notReadyReason: string | undefined;
  let started = false;
  let shuttingDown = false;
  let closed = false;

  const snapshots = (kind: ProbeKind): CheckSnapshot[] => byKind[kind].map((r) => r.snapshot);

  // A failing non-critical check only degrades its probe (warn): it does not hold startup back.
  const startupChecksPassed = (): boolean =>
    byKind.startup.every(
      (r) =>
        r.status === 'pass' || r.status === 'warn' || (r.status === 'fail' && !r.check.critical),
    );

  const updateStarted = (): void => {
    if (started || !startupChecksPassed()) return;
    if (byKind.startup.length > 0) {
      // Startup checks passing say "started" and, unless markNotReady() said otherwise, "ready".
      if (notReadyReason === undefined) ready = true;
    } else if (!readySignalled) {
      // Without startup checks, only markReady() (or initiallyReady) says so.
      return;
    }
    started = true;
    // Startup is latched: its checks have nothing more to say.
    for (const r of byKind.startup) r.stop();
  };

  const changed = (): void => {
    generation++;
  };

  const onRun = (runner: CheckRunner, previous: HealthStatus | undefined): void => {
    if (runner.check.kind === 'startup') updateStarted();
    changed();
    const current = runner.status;
    if (onCheckChange && current !== undefined && current !== previous) {
      try {
        onCheckChange({
          name: runner.check.name,
          kind: runner.check.kind,
          critical: runner.check.critical,
          previous,
          current,
          output: runner.snapshot.result?.output,
        });
      } catch {
        // A throwing observer must not break the check loop.
      }
    }
  };

  const blockedReason = (kind: ProbeKind): string | undefined => {
    if (kind === 'liveness') return undefined;
    if (kind === 'startup') return started ? undefined : startingReason();
    if (shuttingDown) return 'shutting down';
    if (!started) return startingReason();
    if (!ready) return notReadyReason ?? 'not ready';
    return undefined;
  };

  const startingReason = (): string =>
    byKind.startup.length > 0 && !startupChecksPassed()
      ? 'starting: startup checks have not passed yet'
      : 'starting: markReady() has not been called yet';

  const report = (kind: ProbeKind): HealthReport => {
    const checks = snapshots(kind);
    // Once started, the startup probe passes whatever its (stopped) checks last said.
    const judged = kind === 'startup' && started ? [] : checks;
    return detailedReport(verdict(judged, blockedReason(kind)), checks, service);
  };

  const render = (kind: ProbeKind, details: boolean): Rendered => {
    const slot = KIND_INDEX[kind] * 2 + (details ? 1 : 0);
    const cached = rendered[slot];
    if (cached !== undefined && cached.generation === generation) return cached;
    const full = report(kind);
    const body: HealthReport = details ? full : { status: full.status };
    const fresh: Rendered = {
      generation,
      status: httpStatus(full.status),
      body: Buffer.from(JSON.stringify(body)),
    };
    rendered[slot] = fresh;
    return fresh;
  };

  const mayShowDetails = (ctx: Context): boolean => {
    if (allowDetails === undefined) return false;
    try {
      return allowDetails(ctx) === true;
    } catch (err) {
      ctx.app.emit('error', err, ctx);
      return false;
    }
  };

  const addCheck = (name: string, input: HealthCheckInput): void => {
    const check = normalizeCheck(name, input);
    if (runners.has(check.name))
      throw new TypeError(`@koa-mesh/health: a check named "${check.name}" is already registered`);
    const runner = new CheckRunner(check, onRun);
    runners.set(check.name, runner);
    byKind[check.kind].push(runner);
    changed();
    if (!closed && !(check.kind === 'startup' && started)) runner.start();
  };

  function healthProbeMiddleware(ctx: Context, next: Next): Promise<unknown> | unknown {
    const kind = probeOf(ctx.url);
    if (kind === undefined) return next();
    const method = ctx.method;
    if (method !== 'GET' && method !== 'HEAD') {
      methodNotAllowed(ctx);
      return undefined;
    }
    const r = render(kind, mayShowDetails(ctx));
    ctx.status = r.status;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Type', 'application/health+json');
    ctx.body = r.body;
    return undefined;
  }

  for (const [name, input] of Object.entries(o.checks)) addCheck(name, input as HealthCheckInput);
  updateStarted();

  const middleware = healthProbeMiddleware as HealthMiddleware;
  Object.defineProperty(middleware, 'shuttingDown', { get: () => shuttingDown, enumerable: true });
  return Object.assign(middleware, {
    markReady(): void {
      readySignalled = true;
      ready = true;
      notReadyReason = undefined;
      updateStarted();
      changed();
    },
    markNotReady(reason?: string): void {
      const r = optionalString('markNotReady(reason)', reason);
      ready = false;
      notReadyReason = r === undefined || r === '' ? 'not ready' : `not ready: ${r}`;
      changed();
    },
    addCheck,
    async refresh(): Promise<void> {
      await Promise.all([...runners.values()].map((r) => r.run()));
    },
    report,
    checks: (): CheckSnapshot[] => [...runners.values()].map((r) => r.snapshot),
    beginShutdown(): void {
      shuttingDown = true;
      changed();
    },
    gracefulShutdown(
      server: Server,
      shutdownOptions: Omit<GracefulShutdownOptions, 'health'> = {},
    ): GracefulShutdown {
      return gracefulShutdown(server, { ...shutdownOptions, health: middleware });
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const r of runners.values()) {
        r.stop();
        try {
          r.check.close?.();
        } catch {
          // Freeing a check's resources must not stop freeing the others.
        }
      }
    },
  });
}

function methodNotAllowed(ctx: Context): void {
  ctx.status = 405;
  ctx.set('Allow', 'GET, HEAD');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Type', 'application/problem+json');
  const requestId = ctx.state.requestId;
  ctx.body = JSON.stringify({
    type: 'urn:koa-mesh:health:method-not-allowed',
    title: 'Method Not Allowed',
    status: 405,
    detail: `${ctx.method} is not allowed on a health probe; use GET or HEAD`,
    code: 'ERR_KOA_MESH_HEALTH_METHOD_NOT_ALLOWED',
    ...(typeof requestId === 'string' ? { requestId } : {}),
  });
}
