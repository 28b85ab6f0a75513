import type {
  ClientCore,
  DiscoveryClient,
  PickOptions,
  Resolver,
  ResolverFilter,
} from './client.js';
import type { DiscoveryFetchInit, DiscoveryResponse } from './fetch.js';
import type { Instance, InstanceFilter } from './instance.js';

/**
 * `ctx.state.discovery`: the process's client seen from one request, so that `fetch` knows the
 * request it is made for (its trace context, its request id).
 *
 * One small object per request and nothing else: `pick`, `resolver` and `instances` are the
 * client's own bound methods, and `fetch` (bound to this request, since handlers hand it around
 * detached: `const { fetch } = ctx.state.discovery`) is made on first use only, so a request that
 * calls no other service allocates no function.
 */
export class RequestClient implements DiscoveryClient {
  readonly #core: ClientCore;
  readonly #ctx: object;
  #fetch: DiscoveryClient['fetch'] | undefined;

  constructor(core: ClientCore, ctx: object) {
    this.#core = core;
    this.#ctx = ctx;
  }

  get fetch(): (
    service: string,
    path: string,
    init?: DiscoveryFetchInit,
  ) => Promise<DiscoveryResponse> {
    if (this.#fetch) return this.#fetch;
    const core = this.#core;
    const ctx = this.#ctx;
    return (this.#fetch = function fetchForRequest(service, path, init) {
      return core.fetchFor(ctx, service, path, init);
    });
  }

  get pick(): (service: string, options?: PickOptions) => Instance | undefined {
    return this.#core.pick;
  }

  get resolver(): <Ctx = unknown>(service: string, filter?: ResolverFilter<Ctx>) => Resolver<Ctx> {
    return this.#core.resolver;
  }

  get instances(): (service: string, filter?: InstanceFilter) => readonly Instance[] {
    return this.#core.instances;
  }
}
