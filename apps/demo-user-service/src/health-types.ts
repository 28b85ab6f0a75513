/** The IETF-style check result every koa-mesh package's `healthCheck()` returns (CONTRIBUTING.md). */
export interface HealthCheckResult {
  status: 'pass' | 'warn' | 'fail';
  componentType?: string;
  measurement?: string;
  observedValue?: unknown;
  observedUnit?: string;
  output?: string;
  details?: Record<string, unknown>;
}

/** Anything koa-health can add as a check. */
export interface HealthCheckable {
  healthCheck(): Promise<HealthCheckResult>;
}
