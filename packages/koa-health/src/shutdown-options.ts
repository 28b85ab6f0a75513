import { optionNames, rejectUnknownKeys } from './known-keys.js';
import {
  fail,
  optionalFunction,
  plainObject,
  positiveInteger,
  timerMs,
  timerMsOrZero,
} from './validate.js';

/** A shutdown hook: may be async; its `name` (the function's) appears in logs. */
export type ShutdownHook = () => unknown;

/** Where the orchestrator writes what it does. */
export interface ShutdownLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The part of the health middleware the orchestrator drives. */
export interface ShutdownHealthTarget {
  beginShutdown(): void;
  close(): void;
}

/** Options of {@link gracefulShutdown}. */
export interface GracefulShutdownOptions {
  /** The health middleware whose readiness fails at the signal (and whose checks stop at the end). */
  health?: ShutdownHealthTarget;
  /**
   * Signals that start the shutdown. Handlers are installed when `gracefulShutdown()` is called,
   * never at import; `[]` installs none (call `shutdown()` yourself).
   * @default ['SIGTERM', 'SIGINT']
   */
  signals?: NodeJS.Signals[];
  /**
   * Run in order at the signal, right after readiness starts failing: deregister from discovery
   * (koa-discovery's `stop()`), stop consuming queues.
   * @default []
   */
  beforeDrain?: ShutdownHook | ShutdownHook[];
  /**
   * Time to keep serving after `beforeDrain`, so load balancers, kube-proxy and discovery caches
   * stop sending traffic before the listener closes.
   * @default 5000
   */
  drainDelayMs?: number;
  /** Deadline for in-flight requests to finish once the server stops listening. @default 10000 */
  timeoutMs?: number;
  /** Deadline of each hook step (`beforeDrain`, `onClose`) as a whole. @default 5000 */
  hookTimeoutMs?: number;
  /** Run in order once the server has closed: close Redis, flush the tracing exporter. @default [] */
  onClose?: ShutdownHook | ShutdownHook[];
  /**
   * The orchestrator's grace period (Kubernetes' `terminationGracePeriodSeconds` in ms): a warning
   * is logged at construction when the worst case of the steps exceeds it.
   * @default 30000
   */
  terminationGracePeriodMs?: number;
  /**
   * What to do at the end: `true` calls `process.exit(code)`, `false` does nothing, a function is
   * called with the code.
   * @default true
   */
  exit?: boolean | ((code: number) => void);
  /**
   * Where progress (info), a second signal or a grace-period overrun (warn) and a failed step
   * (error) are written.
   * @default warnings and errors to stderr, info dropped
   */
  logger?: ShutdownLogger;
}

/** Defaults of {@link GracefulShutdownOptions}. */
export const SHUTDOWN_DEFAULTS = Object.freeze({
  signals: Object.freeze(['SIGTERM', 'SIGINT'] as NodeJS.Signals[]),
  drainDelayMs: 5000,
  timeoutMs: 10_000,
  hookTimeoutMs: 5000,
  terminationGracePeriodMs: 30_000,
});

const SHUTDOWN_OPTIONS = optionNames<GracefulShutdownOptions>({
  health: true,
  signals: true,
  beforeDrain: true,
  drainDelayMs: true,
  timeoutMs: true,
  hookTimeoutMs: true,
  onClose: true,
  terminationGracePeriodMs: true,
  exit: true,
  logger: true,
});

export interface NormalizedShutdownOptions {
  health: ShutdownHealthTarget | undefined;
  signals: NodeJS.Signals[];
  beforeDrain: ShutdownHook[];
  drainDelayMs: number;
  timeoutMs: number;
  hookTimeoutMs: number;
  onClose: ShutdownHook[];
  terminationGracePeriodMs: number;
  exit: (code: number) => void;
  logger: ShutdownLogger;
}

const stderrLogger: ShutdownLogger = Object.freeze({
  info: () => undefined,
  warn: (message: string) => void process.stderr.write(`${message}\n`),
  error: (message: string) => void process.stderr.write(`${message}\n`),
});

const exitProcess = (code: number): void => {
  process.exit(code);
};

function hooks(option: string, value: unknown): ShutdownHook[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  list.forEach((h, i) => {
    if (typeof h !== 'function') fail(`${option}[${i}]`, 'a function', h);
  });
  return list as ShutdownHook[];
}

export function normalizeShutdownOptions(options: unknown): NormalizedShutdownOptions {
  const o = plainObject('options', options) as GracefulShutdownOptions;
  rejectUnknownKeys('', o, SHUTDOWN_OPTIONS);
  const health = o.health;
  if (
    health !== undefined &&
    ((typeof health !== 'function' && (typeof health !== 'object' || health === null)) ||
      typeof health.beginShutdown !== 'function' ||
      typeof health.close !== 'function')
  )
    fail('health', 'the middleware health() returned', health);
  const signals = o.signals ?? [...SHUTDOWN_DEFAULTS.signals];
  if (
    !Array.isArray(signals) ||
    signals.some((s) => typeof s !== 'string' || !/^SIG[A-Z0-9]+$/.test(s))
  )
    fail('signals', 'an array of signal names such as "SIGTERM"', signals);
  let exit: (code: number) => void;
  if (o.exit === undefined || o.exit === true) exit = exitProcess;
  else if (o.exit === false) exit = () => undefined;
  else exit = optionalFunction<(code: number) => void>('exit', o.exit) ?? exitProcess;
  const logger = o.logger ?? stderrLogger;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof logger.info !== 'function' ||
    typeof logger.warn !== 'function' ||
    typeof logger.error !== 'function'
  )
    fail('logger', 'an object with info(), warn() and error()', logger);
  return {
    health,
    signals: [...new Set(signals)],
    beforeDrain: hooks('beforeDrain', o.beforeDrain),
    drainDelayMs: timerMsOrZero('drainDelayMs', o.drainDelayMs, SHUTDOWN_DEFAULTS.drainDelayMs),
    timeoutMs: timerMs('timeoutMs', o.timeoutMs, SHUTDOWN_DEFAULTS.timeoutMs),
    hookTimeoutMs: timerMs('hookTimeoutMs', o.hookTimeoutMs, SHUTDOWN_DEFAULTS.hookTimeoutMs),
    onClose: hooks('onClose', o.onClose),
    terminationGracePeriodMs: positiveInteger(
      'terminationGracePeriodMs',
      o.terminationGracePeriodMs,
      SHUTDOWN_DEFAULTS.terminationGracePeriodMs,
    ),
    exit,
    logger,
  };
}
