/**
 * The health-check result shape koa-mesh packages share (CONTRIBUTING.md), duplicated
 * structurally so this package imports no other.
 */
export interface HealthCheckResult {
  status: 'pass' | 'warn' | 'fail';
  /** e.g. 'component', 'datastore', 'system' (IETF health check format). */
  componentType?: string;
  /** The measurement name, used as the key suffix `name:measurement`. */
  measurement?: string;
  observedValue?: unknown;
  observedUnit?: string;
  /** Why, when not pass. */
  output?: string;
  /** Extra fields shown only to callers allowed to see details. */
  details?: Record<string, unknown>;
}
