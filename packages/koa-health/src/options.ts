import type { Context } from 'koa';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import type { HealthCheckInput, ProbeKind } from './types.js';
import {
  boolean,
  fail,
  optionalFunction,
  optionalString,
  plainObject,
  probePath,
} from './validate.js';

/** Options of {@link health}. */
export interface HealthOptions {
  /** Liveness probe path: is the process responsive? @default '/health' */
  livenessPath?: string;
  /** Readiness probe path: may it get traffic? @default '/ready' */
  readinessPath?: string;
  /** Startup probe path: has it started? @default '/startup' */
  startupPath?: string;
  /** Checks to register at construction, by name (see `addCheck()`). @default {} */
  checks?: Record<string, HealthCheckInput>;
  /**
   * Whether this caller may see check names, outputs and service fields. Callers it refuses get
   * the status alone. A throwing function counts as `false`.
   * @default () => false
   */
  details?: (ctx: Context) => boolean;
  /**
   * Start ready, as if `markReady()` had been called (startup checks still gate readiness).
   * @default false
   */
  initiallyReady?: boolean;
  /** `version` field of the response (public version of the service). */
  version?: string;
  /** `releaseId` field of the response (build or commit). */
  releaseId?: string;
  /** `serviceId` field of the response (unique identifier of this service instance). */
  serviceId?: string;
  /** `description` field of the response. */
  description?: string;
  /**
   * Called when a check's reported status changes (after hysteresis). A throwing callback is
   * ignored.
   */
  onCheckChange?: (event: CheckChangeEvent) => void;
}

/** Argument of `onCheckChange`. */
export interface CheckChangeEvent {
  name: string;
  kind: ProbeKind;
  critical: boolean;
  /** undefined for the first result. */
  previous: 'pass' | 'warn' | 'fail' | undefined;
  current: 'pass' | 'warn' | 'fail';
  output: string | undefined;
}

/** Defaults of {@link HealthOptions}. */
export const DEFAULTS = Object.freeze({
  livenessPath: '/health',
  readinessPath: '/ready',
  startupPath: '/startup',
  initiallyReady: false,
});

const HEALTH_OPTIONS = optionNames<HealthOptions>({
  livenessPath: true,
  readinessPath: true,
  startupPath: true,
  checks: true,
  details: true,
  initiallyReady: true,
  version: true,
  releaseId: true,
  serviceId: true,
  description: true,
  onCheckChange: true,
});

export interface NormalizedOptions {
  paths: Record<ProbeKind, string>;
  checks: Record<string, unknown>;
  details: ((ctx: Context) => boolean) | undefined;
  initiallyReady: boolean;
  version: string | undefined;
  releaseId: string | undefined;
  serviceId: string | undefined;
  description: string | undefined;
  onCheckChange: ((event: CheckChangeEvent) => void) | undefined;
}

export function normalizeOptions(options: unknown): NormalizedOptions {
  const o = plainObject('options', options) as HealthOptions;
  // `checks` is keyed by the user's check names: only each check spec's own keys are checked.
  rejectUnknownKeys('', o, HEALTH_OPTIONS);
  const paths: Record<ProbeKind, string> = {
    liveness: probePath('livenessPath', o.livenessPath, DEFAULTS.livenessPath),
    readiness: probePath('readinessPath', o.readinessPath, DEFAULTS.readinessPath),
    startup: probePath('startupPath', o.startupPath, DEFAULTS.startupPath),
  };
  if (
    paths.liveness === paths.readiness ||
    paths.liveness === paths.startup ||
    paths.readiness === paths.startup
  )
    fail(
      'livenessPath, readinessPath and startupPath',
      'three different paths',
      Object.values(paths).join(', '),
    );
  return {
    paths,
    checks: plainObject('checks', o.checks),
    details: optionalFunction('details', o.details),
    initiallyReady: boolean('initiallyReady', o.initiallyReady, DEFAULTS.initiallyReady),
    version: optionalString('version', o.version),
    releaseId: optionalString('releaseId', o.releaseId),
    serviceId: optionalString('serviceId', o.serviceId),
    description: optionalString('description', o.description),
    onCheckChange: optionalFunction('onCheckChange', o.onCheckChange),
  };
}
