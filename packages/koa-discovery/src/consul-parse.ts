import type { Instance, InstanceStatus } from './instance.js';

/** Thrown for a Consul answer that is not the documented shape; the last good list is kept. */
export class MalformedAnswerError extends Error {
  readonly code = 'ERR_KOA_MESH_DISCOVERY_MALFORMED_ANSWER';
  constructor(message: string) {
    super(`@koa-mesh/discovery: malformed Consul answer: ${message}`);
    this.name = 'MalformedAnswerError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const RANK: Record<InstanceStatus, number> = { passing: 0, warning: 1, critical: 2 };

function formatHost(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** Builds an instance's base URL (origin) from address and port. */
export function instanceUrl(address: string, port: number): string {
  return new URL(`http://${formatHost(address)}:${port}`).origin;
}

/**
 * Decodes `/v1/health/service/:name` into instances. Throws MalformedAnswerError for anything but
 * an array of entries with a service id, a port and an address (the service's or its node's).
 */
export function parseHealthService(body: unknown, service: string): Instance[] {
  if (!Array.isArray(body)) throw new MalformedAnswerError(`expected an array, got ${typeof body}`);
  const out: Instance[] = [];
  for (const entry of body) {
    if (!isObject(entry) || !isObject(entry.Service)) {
      throw new MalformedAnswerError('entry without a Service object');
    }
    const svc = entry.Service;
    const node = isObject(entry.Node) ? entry.Node : {};
    const id = svc.ID;
    const port = svc.Port;
    const address =
      typeof svc.Address === 'string' && svc.Address !== '' ? svc.Address : node.Address;
    if (typeof id !== 'string' || id === '') throw new MalformedAnswerError('Service.ID missing');
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new MalformedAnswerError(`bad Service.Port for ${id}`);
    }
    if (typeof address !== 'string' || address === '') {
      throw new MalformedAnswerError(`no address for ${id}`);
    }
    let url: string;
    try {
      url = instanceUrl(address, port);
    } catch {
      throw new MalformedAnswerError(`bad address ${address} for ${id}`);
    }
    const tags = Array.isArray(svc.Tags) ? svc.Tags.filter((t) => typeof t === 'string') : [];
    const meta: Record<string, string> = {};
    if (isObject(svc.Meta)) {
      for (const [k, v] of Object.entries(svc.Meta)) if (typeof v === 'string') meta[k] = v;
    }
    let status: InstanceStatus = 'passing';
    if (Array.isArray(entry.Checks)) {
      for (const check of entry.Checks) {
        const s = isObject(check) ? check.Status : undefined;
        if ((s === 'warning' || s === 'critical') && RANK[s] > RANK[status]) status = s;
      }
    }
    const metaWeight = Number(meta.weight);
    const weights = isObject(svc.Weights) ? svc.Weights : {};
    const consulWeight = status === 'warning' ? weights.Warning : weights.Passing;
    const weight =
      Number.isFinite(metaWeight) && metaWeight > 0
        ? metaWeight
        : typeof consulWeight === 'number' && consulWeight > 0
          ? consulWeight
          : 1;
    out.push({
      id,
      service: typeof svc.Service === 'string' ? svc.Service : service,
      address,
      port,
      url,
      tags: Object.freeze(tags as string[]),
      meta: Object.freeze(meta),
      weight,
      status,
      ...(typeof node.Node === 'string' ? { node: node.Node } : {}),
      ...(typeof node.Datacenter === 'string' ? { datacenter: node.Datacenter } : {}),
    });
  }
  return out;
}
