/** Fields every koa-mesh error carries, so that Koa's error handler and other packages can read them. */
interface MeshErrorFields {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string>;
}

/** A check run that did not settle within its `timeoutMs`; reported as the check's `fail` output. */
export class HealthCheckTimeoutError extends Error implements MeshErrorFields {
  readonly code = 'ERR_KOA_MESH_HEALTH_CHECK_TIMEOUT';
  readonly status = 503;
  readonly expose = false;
  readonly headers: Record<string, string> = {};
  readonly timeoutMs: number;

  constructor(name: string, timeoutMs: number) {
    super(`check "${name}" timed out after ${timeoutMs} ms`);
    this.name = 'HealthCheckTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The step of a graceful shutdown that failed or overran its deadline. */
export type ShutdownStep = 'beforeDrain' | 'drain' | 'close' | 'onClose';

/**
 * A graceful shutdown step that overran its deadline or whose hook threw. The shutdown goes on
 * with the next steps and exits with 1; `step` names where it went wrong.
 */
export class ShutdownStepError extends Error implements MeshErrorFields {
  readonly code: 'ERR_KOA_MESH_HEALTH_SHUTDOWN_TIMEOUT' | 'ERR_KOA_MESH_HEALTH_SHUTDOWN_HOOK';
  readonly status = 500;
  readonly expose = false;
  readonly headers: Record<string, string> = {};
  readonly step: ShutdownStep;

  constructor(
    step: ShutdownStep,
    kind: 'timeout' | 'hook',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`@koa-mesh/health: graceful shutdown step "${step}" ${message}`, options);
    this.name = 'ShutdownStepError';
    this.step = step;
    this.code =
      kind === 'timeout'
        ? 'ERR_KOA_MESH_HEALTH_SHUTDOWN_TIMEOUT'
        : 'ERR_KOA_MESH_HEALTH_SHUTDOWN_HOOK';
  }
}

/** True for a {@link HealthCheckTimeoutError} from any copy of this package (ESM or CJS). */
export function isHealthCheckTimeoutError(err: unknown): err is HealthCheckTimeoutError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { code?: unknown }).code === 'ERR_KOA_MESH_HEALTH_CHECK_TIMEOUT'
  );
}

/** True for a {@link ShutdownStepError} from any copy of this package (ESM or CJS). */
export function isShutdownStepError(err: unknown): err is ShutdownStepError {
  const code = typeof err === 'object' && err !== null && (err as { code?: unknown }).code;
  return (
    code === 'ERR_KOA_MESH_HEALTH_SHUTDOWN_TIMEOUT' || code === 'ERR_KOA_MESH_HEALTH_SHUTDOWN_HOOK'
  );
}
