import type { ConsulApi } from './consul-api.js';
import {
  consulServiceDefinition,
  normalizeRegistration,
  type NormalizedRegistration,
} from './registration.js';
import type { RegisteredInfo, Registration } from './registry.js';
import { isPlainObject } from './validate.js';

export interface RegistrationKeeperOptions {
  api: ConsulApi;
  requestTimeoutMs: number;
  syncIntervalMs: number;
  emit: (event: string, payload: Record<string, unknown>) => void;
}

/**
 * Registers this process through the Consul agent API (never the catalog API, whose registrations
 * anti-entropy removes) and keeps it registered: a TTL heartbeat, or a presence check without
 * one, from an unref'd timer; a lost registration (agent restart) is registered again.
 */
export class RegistrationKeeper {
  readonly #o: RegistrationKeeperOptions;
  #registration: NormalizedRegistration | undefined;
  #healthy = false;
  #lastError: string | undefined;
  #reregistrations = 0;
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #deregistering: Promise<void> | undefined;
  #closed = false;

  constructor(options: RegistrationKeeperOptions) {
    this.#o = options;
  }

  async register(registration: Registration): Promise<void> {
    const reg = normalizeRegistration(registration);
    this.#stopTimer();
    this.#registration = reg;
    this.#deregistering = undefined;
    try {
      await this.#registerOnce(reg);
      this.#o.emit('registered', {
        id: reg.id,
        name: reg.name,
        address: reg.address,
        port: reg.port,
      });
    } finally {
      // Even when the agent is unreachable now, keep trying: the sync loop registers us as soon
      // as it answers (a `reregistered` event).
      this.#schedule();
    }
  }

  info(): RegisteredInfo | undefined {
    const reg = this.#registration;
    if (!reg) return undefined;
    return {
      id: reg.id,
      name: reg.name,
      address: reg.address,
      port: reg.port,
      healthy: this.#healthy,
      lastError: this.#lastError,
      reregistrations: this.#reregistrations,
    };
  }

  deregister(): Promise<void> {
    this.#deregistering ??= this.#deregister();
    return this.#deregistering;
  }

  /** Stops the timer without deregistering (the registry is closing). */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #registerOnce(reg: NormalizedRegistration): Promise<void> {
    try {
      await this.#o.api.agent.service.register({
        ...consulServiceDefinition(reg),
        timeout: this.#o.requestTimeoutMs,
      });
      if (reg.ttlMs !== undefined) await this.#pass(reg);
      this.#healthy = true;
      this.#lastError = undefined;
    } catch (err) {
      this.#healthy = false;
      this.#lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  #pass(reg: NormalizedRegistration): Promise<unknown> {
    return this.#o.api.agent.check.pass({
      id: `${reg.id}:ttl`,
      timeout: this.#o.requestTimeoutMs,
    });
  }

  #schedule(): void {
    const reg = this.#registration;
    if (!reg || this.#closed || this.#deregistering) return;
    const every =
      reg.ttlMs !== undefined ? Math.max(100, Math.floor(reg.ttlMs / 3)) : this.#o.syncIntervalMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const syncing = this.#sync(reg);
      this.#syncing = syncing;
      void syncing.finally(() => {
        if (this.#syncing === syncing) this.#syncing = undefined;
        if (this.#registration === reg) this.#schedule();
      });
    }, every);
    this.#timer.unref();
  }

  /** Heartbeat (TTL) or presence check; registers again when the agent has lost us. */
  async #sync(reg: NormalizedRegistration): Promise<void> {
    let present = true;
    try {
      if (reg.ttlMs !== undefined) {
        await this.#pass(reg);
      } else {
        const services = await this.#o.api.agent.service.list({
          timeout: this.#o.requestTimeoutMs,
        });
        present = isPlainObject(services) && Object.hasOwn(services as object, reg.id);
      }
    } catch {
      // An unknown TTL check (agent restarted) or an unreachable agent: try to register again.
      present = false;
    }
    if (this.#registration !== reg || this.#deregistering) return;
    if (present) {
      this.#healthy = true;
      this.#lastError = undefined;
      return;
    }
    try {
      await this.#registerOnce(reg);
      this.#reregistrations++;
      this.#o.emit('reregistered', { id: reg.id, name: reg.name, count: this.#reregistrations });
    } catch (error) {
      this.#o.emit('registration:error', { id: reg.id, name: reg.name, error });
    }
  }

  async #deregister(): Promise<void> {
    this.#stopTimer();
    const reg = this.#registration;
    if (!reg) return;
    this.#registration = undefined;
    this.#healthy = false;
    // A re-registration in flight must not land after we leave.
    await this.#syncing?.catch(() => undefined);
    const timeout = this.#o.requestTimeoutMs;
    const { agent } = this.#o.api;
    try {
      // Unavailable first, so watchers drop us before the registration disappears.
      if (reg.ttlMs !== undefined) {
        await agent.check.fail({ id: `${reg.id}:ttl`, note: 'shutting down', timeout });
      } else {
        await agent.service.maintenance({
          id: reg.id,
          enable: true,
          reason: 'shutting down',
          timeout,
        });
      }
    } catch {
      // Deregistering below achieves the same; an unreachable agent is reported there.
    }
    try {
      await agent.service.deregister({ id: reg.id, timeout });
      this.#o.emit('deregistered', { id: reg.id, name: reg.name });
    } catch (error) {
      this.#o.emit('registration:error', { id: reg.id, name: reg.name, error });
    }
  }
}
