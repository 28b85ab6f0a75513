import type { Instance } from './instance.js';

/** What a registry reports about one watched query (for `snapshot()` and `healthCheck()`). */
export interface WatchInfo {
  readonly service: string;
  readonly dc: string | undefined;
  /** A first list has arrived. */
  readonly ready: boolean;
  /** The last attempt to refresh failed: the list served is the last good one. */
  readonly stale: boolean;
  /** Milliseconds since the registry last confirmed the list (undefined before the first). */
  readonly ageMs: number | undefined;
  /** The last error's message while stale. */
  readonly lastError: string | undefined;
  /** Times the watch loop died and was restarted. */
  readonly restarts: number;
  /** An empty list replaced a non-empty one and the last good list is kept for the grace period. */
  readonly inGrace: boolean;
  /** Consul's index for the list (0 for static registries). */
  readonly index: number;
}

/** A caller's subscription to a shared watch. */
export interface RegistryWatch {
  /** The current list, or undefined until the first arrives. */
  readonly instances: readonly Instance[] | undefined;
  info(): WatchInfo;
  /** Ends this subscription; the shared watch stops when its last subscriber leaves. */
  close(): void;
}

/** Where and how this process registers itself. Normalized by the registry's `register`. */
export interface Registration {
  /** Service name. */
  name: string;
  /** Unique instance id. @default `<name>-<address>-<port>` */
  id?: string;
  /** Address other services reach this one at. @default the first non-internal IPv4, else 127.0.0.1 */
  address?: string;
  port: number;
  tags?: readonly string[];
  /** Free-form metadata; `version` is used by koa-canary-router filters. */
  meta?: Readonly<Record<string, string>>;
  /** Shorthand for `meta.version`. */
  version?: string;
  /** Health checks: an HTTP check on the readiness path and/or a TTL check heartbeated by us. */
  check?: RegistrationCheck;
}

/** Health checks of a registration. At least one of `http` and `ttlMs` must be set. */
export interface RegistrationCheck {
  /** Readiness path (`/ready`) or full URL Consul polls. */
  http?: string;
  /** Interval of the HTTP check, >= 1000 (Consul's minimum is 1 s). @default 10000 */
  intervalMs?: number;
  /** Timeout of the HTTP check. @default 5000 */
  timeoutMs?: number;
  /** TTL of a check this package passes from its own unref'd timer every `ttlMs / 3`. */
  ttlMs?: number;
  /**
   * Consul removes the instance after its checks stay critical this long. Consul enforces a
   * 1-minute floor, so smaller values are rejected. @default 60000
   */
  deregisterCriticalServiceAfterMs?: number;
}

/**
 * The source of instance lists and, optionally, the place this process registers itself. Events a
 * registry emits (forwarded by `discovery()`): see the README's events table.
 */
export interface Registry {
  /** `consul`, `static` or your own. */
  readonly kind: string;
  /**
   * Subscribes to `service` (in datacenter `dc`); one underlying watch per distinct query, shared
   * by every subscriber. `onChange` runs on every content change, not on every index bump.
   */
  watch(
    service: string,
    dc: string | undefined,
    onChange: (instances: readonly Instance[]) => void,
  ): RegistryWatch;
  /**
   * Registers this process and keeps the registration alive until `deregister`. Rejects when the
   * first attempt fails (a Consul registry keeps trying in the background).
   */
  register?(registration: Registration): Promise<void>;
  /** Marks this process unavailable, then removes its registration. Idempotent. */
  deregister?(): Promise<void>;
  /** The registration as sent, when registered. */
  registration?(): RegisteredInfo | undefined;
  /** Stops every watch and timer and frees sockets. Idempotent. */
  close(): Promise<void>;
  on(event: string, listener: (payload: Record<string, unknown>) => void): unknown;
  off(event: string, listener: (payload: Record<string, unknown>) => void): unknown;
}

/** What `registration()` reports. */
export interface RegisteredInfo {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** The registry accepted the last registration or heartbeat. */
  readonly healthy: boolean;
  readonly lastError: string | undefined;
  readonly reregistrations: number;
}

/** Event names registries emit; `discovery()` forwards these. */
export const REGISTRY_EVENTS = Object.freeze([
  'registered',
  'reregistered',
  'deregistered',
  'registration:error',
  'watch:update',
  'watch:error',
  'watch:reset',
  'watch:restart',
  'watch:empty',
  'watch:recovered',
] as const);
