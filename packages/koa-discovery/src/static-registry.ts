import { EventEmitter } from 'node:events';
import { instanceUrl } from './consul-parse.js';
import type { Instance } from './instance.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { normalizeRegistration, type NormalizedRegistration } from './registration.js';
import type {
  RegisteredInfo,
  Registration,
  Registry,
  RegistryWatch,
  WatchInfo,
} from './registry.js';
import { isPlainObject, optionError } from './validate.js';

/** One static instance: a base URL, or an object with tags, meta and weight. */
export type StaticInstance =
  | string
  | {
      url: string;
      id?: string;
      tags?: readonly string[];
      meta?: Readonly<Record<string, string>>;
      weight?: number;
    };

/** Options of {@link StaticRegistry}. */
export interface StaticRegistryOptions {
  /** Instances per service name. Merged over `env`'s. */
  services?: Readonly<Record<string, readonly StaticInstance[]>>;
  /**
   * Read `KOA_MESH_SERVICES` from this environment (`process.env` when `true`), e.g.
   * `orders=http://127.0.0.1:4001,http://127.0.0.1:4002;users=http://127.0.0.1:4003`. @default false
   */
  env?: boolean | Readonly<Record<string, string | undefined>>;
}

const OPTION_KEYS = optionNames<StaticRegistryOptions>({ services: true, env: true });
const INSTANCE_KEYS = optionNames<Exclude<StaticInstance, string>>({
  url: true,
  id: true,
  tags: true,
  meta: true,
  weight: true,
});

/** The environment variable {@link StaticRegistry} reads. */
export const SERVICES_ENV = 'KOA_MESH_SERVICES';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses `KOA_MESH_SERVICES`: `name=url,url;name=url`. Whitespace around items is ignored; a
 * malformed entry throws a TypeError naming it.
 */
export function parseServicesEnv(value: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of value.split(';')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq).trim() : '';
    if (!NAME.test(name)) {
      throw optionError(SERVICES_ENV, '`name=url[,url...]` entries separated by `;`', item);
    }
    const urls = item
      .slice(eq + 1)
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    out[name] = [...(out[name] ?? []), ...urls];
  }
  return out;
}

function toInstance(service: string, value: StaticInstance, option: string): Instance {
  const spec = typeof value === 'string' ? { url: value } : value;
  // Before the url check, so that `{ uri }` is told as a typo. `meta` is the user's map: its keys
  // are not checked.
  if (typeof value !== 'string' && isPlainObject(spec))
    rejectUnknownKeys(option, spec, INSTANCE_KEYS);
  if (!isPlainObject(spec) || typeof spec.url !== 'string') {
    throw optionError(option, 'a URL string or { url, id?, tags?, meta?, weight? }', value);
  }
  let parsed: URL;
  try {
    parsed = new URL(spec.url);
  } catch {
    throw optionError(option, 'an http(s) URL such as http://127.0.0.1:4001', spec.url);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw optionError(option, 'an http(s) URL such as http://127.0.0.1:4001', spec.url);
  }
  const address = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  const weight = spec.weight ?? Number(spec.meta?.weight ?? 1);
  if (!(typeof weight === 'number' && Number.isFinite(weight) && weight > 0)) {
    throw optionError(`${option}.weight`, 'a positive number', spec.weight);
  }
  return {
    id: spec.id ?? `${service}-${address}-${port}`,
    service,
    address,
    port,
    url: parsed.protocol === 'https:' ? parsed.origin : instanceUrl(address, port),
    tags: Object.freeze([...(spec.tags ?? [])]),
    meta: Object.freeze({ ...(spec.meta ?? {}) }),
    weight,
    status: 'passing',
  };
}

/**
 * The embedded registry: fixed instance lists from options and/or `KOA_MESH_SERVICES`, so a service
 * (the demo, tests) runs without Consul. `set()` replaces a service's list at runtime, and
 * subscribers see it as they would a Consul update. Registration is recorded but published nowhere.
 */
export class StaticRegistry extends EventEmitter implements Registry {
  readonly kind = 'static';
  readonly #lists = new Map<string, Instance[]>();
  readonly #listeners = new Map<string, Set<(instances: readonly Instance[]) => void>>();
  #registered: NormalizedRegistration | undefined;

  constructor(options: StaticRegistryOptions = {}) {
    super();
    if (!isPlainObject(options)) throw optionError('services', 'an object', options);
    // `services` and `env` are maps keyed by the user's names: only the instances are checked.
    rejectUnknownKeys('', options, OPTION_KEYS);
    const envOpt = options.env ?? false;
    const env: Readonly<Record<string, string | undefined>> | undefined =
      envOpt === true ? process.env : envOpt === false ? undefined : envOpt;
    const fromEnv = env?.[SERVICES_ENV] ? parseServicesEnv(env[SERVICES_ENV]!) : {};
    const services = options.services ?? {};
    if (!isPlainObject(services))
      throw optionError('services', 'an object of URL arrays', services);
    for (const [name, list] of Object.entries({ ...fromEnv, ...services })) {
      if (!Array.isArray(list)) {
        throw optionError(`services.${name}`, 'an array of URLs', list);
      }
      this.#lists.set(
        name,
        list.map((v, i) => toInstance(name, v as StaticInstance, `services.${name}[${i}]`)),
      );
    }
  }

  /** Service names this registry knows. */
  services(): string[] {
    return [...this.#lists.keys()];
  }

  /** Replaces the instances of `service` (all subscribers are told). */
  set(service: string, instances: readonly StaticInstance[]): void {
    const list = instances.map((v, i) => toInstance(service, v, `instances[${i}]`));
    this.#lists.set(service, list);
    this.emit('watch:update', { service, dc: undefined, count: list.length, index: 0 });
    for (const l of this.#listeners.get(service) ?? []) l(list);
  }

  watch(
    service: string,
    dc: string | undefined,
    onChange: (instances: readonly Instance[]) => void,
  ): RegistryWatch {
    let set = this.#listeners.get(service);
    if (!set) this.#listeners.set(service, (set = new Set()));
    set.add(onChange);
    const lists = this.#lists;
    const info = (): WatchInfo => ({
      service,
      dc,
      ready: true,
      stale: false,
      ageMs: 0,
      lastError: undefined,
      restarts: 0,
      inGrace: false,
      index: 0,
    });
    onChange(lists.get(service) ?? []);
    return {
      get instances() {
        return lists.get(service) ?? [];
      },
      info,
      close: () => {
        set.delete(onChange);
        // Service names may come from request input: keep no empty sets behind.
        if (set.size === 0 && this.#listeners.get(service) === set) this.#listeners.delete(service);
      },
    };
  }

  /** Records the registration (there is nowhere to publish it); `registration()` reports it. */
  async register(registration: Registration): Promise<void> {
    const reg = normalizeRegistration(registration);
    this.#registered = reg;
    this.emit('registered', { id: reg.id, name: reg.name, address: reg.address, port: reg.port });
  }

  async deregister(): Promise<void> {
    const reg = this.#registered;
    if (!reg) return;
    this.#registered = undefined;
    this.emit('deregistered', { id: reg.id, name: reg.name });
  }

  registration(): RegisteredInfo | undefined {
    const reg = this.#registered;
    if (!reg) return undefined;
    return {
      id: reg.id,
      name: reg.name,
      address: reg.address,
      port: reg.port,
      healthy: true,
      lastError: undefined,
      reregistrations: 0,
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
