import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
  type ExpositionFormat,
} from './exposition.js';
import { negotiateFormat } from './negotiate.js';

/** Produces the exposition in a format; never rejects (failures are reported by the caller). */
export type Exposer = (format: ExpositionFormat) => Promise<string>;

export interface ExpositionServer {
  /** Resolves with the bound address; rejects when listening failed (e.g. EADDRINUSE). */
  readonly ready: Promise<AddressInfo>;
  /** True once bound and until closed; false when listening failed. */
  listening(): boolean;
  close(): Promise<void>;
}

function plain(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${message}\n`);
}

/**
 * A plain HTTP server that serves only the exposition at `path` (GET and HEAD), for exposure off
 * the application's port. Unref'd: it never keeps the process alive on its own.
 */
export function serveExposition(
  port: number,
  host: string | undefined,
  path: string,
  expose: Exposer,
  textOnly = false,
): ExpositionServer {
  let bound = false;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const q = req.url?.indexOf('?') ?? -1;
    const reqPath = q < 0 ? req.url : req.url!.slice(0, q);
    if (reqPath !== path) return plain(res, 404, 'Not Found');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return plain(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    const format = textOnly ? 'text' : negotiateFormat(req.headers.accept);
    expose(format).then(
      (text) => {
        const body = Buffer.from(text, 'utf8');
        res.writeHead(200, {
          'Content-Type': format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE,
          'Content-Length': String(body.length),
          'Cache-Control': 'no-store',
          Vary: 'Accept',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) =>
        plain(res, 503, `metrics unavailable: ${(err as Error)?.message ?? String(err)}`),
    );
  });
  server.unref();
  const ready = new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      bound = true;
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
  // Marked handled so that a failed bind is reported through `ready`/healthCheck(), not as an
  // unhandled rejection that kills the process.
  ready.catch(() => undefined);
  let closing: Promise<void> | undefined;
  return {
    ready,
    listening: () => bound && closing === undefined,
    close() {
      // A close() before the bind completes waits for it: closing the server now would be a no-op
      // and the port would be bound afterwards, for good.
      closing ??= ready.then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
        () => undefined,
      );
      return closing;
    },
  };
}
