import { EventEmitter } from 'node:events';
import { Agent as HttpAgent, type ClientRequest, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Consul from 'consul';

export type ConsulClient = InstanceType<typeof Consul>;
export type Call = (options: Record<string, unknown>) => Promise<unknown>;
/**
 * The consul client's methods take an options object whose typings omit what we pass (`timeout`,
 * `ctx`, initial check `status`); this is the shape we rely on.
 */
export interface ConsulApi {
  health: { service: Call };
  agent: {
    service: { register: Call; deregister: Call; maintenance: Call; list: Call };
    check: { pass: Call; fail: Call };
  };
}
export type CancelCtx = EventEmitter & { includeResponse?: boolean };

/**
 * The consul client's promise layer (papi) rejects only when `value instanceof Error`; an error
 * from another realm (Node's own `ECONNREFUSED` seen from a vm context, as under jest) resolves
 * as the value instead. A resolved Error is never a real answer, so treat it as the rejection.
 */
function strict(fn: Call, self: object): Call {
  return async (options) => {
    const value = await fn.call(self, options);
    if (Object.prototype.toString.call(value) === '[object Error]') throw value;
    return value;
  };
}

export function strictApi(raw: ConsulApi): ConsulApi {
  const { health, agent } = raw;
  return {
    health: { service: strict(health.service, health) },
    agent: {
      service: {
        register: strict(agent.service.register, agent.service),
        deregister: strict(agent.service.deregister, agent.service),
        maintenance: strict(agent.service.maintenance, agent.service),
        list: strict(agent.service.list, agent.service),
      },
      check: {
        pass: strict(agent.check.pass, agent.check),
        fail: strict(agent.check.fail, agent.check),
      },
    },
  };
}

/**
 * A keep-alive agent whose sockets never hold the process open, in use or idle: a blocking query
 * lasts up to `wait`, and a process that has nothing else to do must still be able to exit.
 */
function unrefAgent(secure: boolean): HttpAgent {
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ) => {
    const socket = create(options, callback);
    (socket as Socket | null | undefined)?.unref?.();
    return socket;
  };
  const reuse = agent.reuseSocket.bind(agent);
  agent.reuseSocket = (socket: Socket, request: ClientRequest) => {
    reuse(socket, request); // refs the socket again
    socket.unref();
  };
  return agent;
}

/** A consul client for `url` (and its ACL token), and the strict view of the calls we make. */
export function createConsul(
  url: URL,
  token: string | undefined,
): { client: ConsulClient; api: ConsulApi } {
  const client = new Consul({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    secure: url.protocol === 'https:',
    agent: unrefAgent(url.protocol === 'https:'),
    ...(token ? { defaults: { token } } : {}),
  });
  return { client, api: strictApi(client as unknown as ConsulApi) };
}

/**
 * A per-call context for the consul client: emitting `cancel` aborts the request, and
 * `includeResponse` makes the call resolve `[response, body]` (we need the `X-Consul-Index` header).
 */
export function cancelContext(): CancelCtx {
  const ctx: CancelCtx = new EventEmitter();
  ctx.includeResponse = true;
  return ctx;
}
