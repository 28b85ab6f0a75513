import { networkInterfaces } from 'node:os';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import type { Registration, RegistrationCheck } from './registry.js';
import {
  intOption,
  isPlainObject,
  optionError,
  stringArrayOption,
  stringOption,
  stringRecordOption,
} from './validate.js';

/** A registration with every default applied. */
export interface NormalizedRegistration {
  name: string;
  id: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  http: string | undefined;
  intervalMs: number;
  timeoutMs: number;
  ttlMs: number | undefined;
  deregisterAfterMs: number;
}

const REGISTRATION_KEYS = optionNames<Registration>({
  name: true,
  id: true,
  address: true,
  port: true,
  tags: true,
  meta: true,
  version: true,
  check: true,
});
const CHECK_KEYS = optionNames<RegistrationCheck>({
  http: true,
  intervalMs: true,
  timeoutMs: true,
  ttlMs: true,
  deregisterCriticalServiceAfterMs: true,
});

/** Consul's floor for DeregisterCriticalServiceAfter. */
export const DEREGISTER_FLOOR_MS = 60_000;

function defaultAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const nic of list ?? []) {
      if (nic.family === 'IPv4' && !nic.internal) return nic.address;
    }
  }
  return '127.0.0.1';
}

/** Validates a registration (option names are prefixed with `prefix`) and applies defaults. */
export function normalizeRegistration(value: unknown, prefix = 'register'): NormalizedRegistration {
  if (!isPlainObject(value)) throw optionError(prefix, 'an object', value);
  // `meta` is the user's map: its keys are not checked.
  rejectUnknownKeys(prefix, value as object, REGISTRATION_KEYS);
  const r = value as Partial<Registration>;
  const name = stringOption(`${prefix}.name`, r.name);
  if (name === undefined) throw optionError(`${prefix}.name`, 'a non-empty string', r.name);
  const port = intOption(`${prefix}.port`, r.port, 0, 1, 'a port number (1-65535)');
  if (port === 0 || port > 65535)
    throw optionError(`${prefix}.port`, 'a port number (1-65535)', r.port);
  const address = stringOption(`${prefix}.address`, r.address) ?? defaultAddress();
  const id = stringOption(`${prefix}.id`, r.id) ?? `${name}-${address}-${port}`;
  const tags = stringArrayOption(`${prefix}.tags`, r.tags) ?? [];
  const meta = stringRecordOption(`${prefix}.meta`, r.meta) ?? {};
  const version = stringOption(`${prefix}.version`, r.version);
  if (version !== undefined) meta.version = version;
  const check = r.check ?? {};
  if (!isPlainObject(check)) throw optionError(`${prefix}.check`, 'an object', check);
  rejectUnknownKeys(`${prefix}.check`, check, CHECK_KEYS);
  const httpPath = stringOption(`${prefix}.check.http`, check.http);
  const ttlMs =
    check.ttlMs === undefined
      ? undefined
      : intOption(
          `${prefix}.check.ttlMs`,
          check.ttlMs,
          0,
          1000,
          'an integer >= 1000 (Consul checks run at most once a second)',
        );
  const intervalMs = intOption(
    `${prefix}.check.intervalMs`,
    check.intervalMs,
    10_000,
    1000,
    'an integer >= 1000 (Consul checks run at most once a second)',
  );
  const timeoutMs = intOption(`${prefix}.check.timeoutMs`, check.timeoutMs, 5000, 1);
  const deregisterAfterMs = intOption(
    `${prefix}.check.deregisterCriticalServiceAfterMs`,
    check.deregisterCriticalServiceAfterMs,
    DEREGISTER_FLOOR_MS,
    DEREGISTER_FLOOR_MS,
    'an integer >= 60000 (Consul enforces a 1-minute floor)',
  );
  let http: string | undefined;
  if (httpPath !== undefined) {
    if (/^https?:\/\//.test(httpPath)) http = httpPath;
    else if (httpPath.startsWith('/')) {
      const host = address.includes(':') ? `[${address}]` : address;
      http = `http://${host}:${port}${httpPath}`;
    } else {
      throw optionError(
        `${prefix}.check.http`,
        'a path starting with / or an http(s) URL',
        httpPath,
      );
    }
  }
  if (http === undefined && ttlMs === undefined) {
    throw optionError(`${prefix}.check`, 'an object with `http` and/or `ttlMs`', r.check);
  }
  return {
    name,
    id,
    address,
    port,
    tags,
    meta,
    http,
    intervalMs,
    timeoutMs,
    ttlMs,
    deregisterAfterMs,
  };
}

/** The Consul agent API body (`PUT /v1/agent/service/register`) in the consul client's shape. */
export function consulServiceDefinition(reg: NormalizedRegistration): Record<string, unknown> {
  const checks: Record<string, unknown>[] = [];
  const after = `${Math.ceil(reg.deregisterAfterMs / 1000)}s`;
  if (reg.http) {
    checks.push({
      checkid: `${reg.id}:http`,
      name: `${reg.name} readiness`,
      http: reg.http,
      interval: `${reg.intervalMs}ms`,
      timeout: `${reg.timeoutMs}ms`,
      // We register only once the app is ready; starting critical would hide it for up to one
      // interval (Consul staggers the first run).
      status: 'passing',
      deregistercriticalserviceafter: after,
    });
  }
  if (reg.ttlMs !== undefined) {
    checks.push({
      checkid: `${reg.id}:ttl`,
      name: `${reg.name} heartbeat`,
      ttl: `${reg.ttlMs}ms`,
      // A TTL check starts critical until its first pass; we pass it right after registering too.
      status: 'passing',
      deregistercriticalserviceafter: after,
    });
  }
  return {
    name: reg.name,
    id: reg.id,
    address: reg.address,
    port: reg.port,
    tags: reg.tags,
    meta: reg.meta,
    checks,
  };
}
