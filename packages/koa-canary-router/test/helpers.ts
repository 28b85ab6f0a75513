import { createHash } from 'node:crypto';
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import Koa from 'koa';
import { startApp, type RunningServer } from '@koa-mesh/testkit';

/** What an upstream saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** A plain Node upstream that records requests and answers with a JSON echo, or `handler`. */
export async function upstream(
  name: string,
  handler?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
): Promise<RunningServer & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = await startApp((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      if (handler) return handler(req, res, body);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          upstream: name,
          method: req.method,
          url: req.url,
          headers: req.headers,
          sha256: createHash('sha256').update(body).digest('hex'),
          length: body.length,
        }),
      );
    });
  });
  return Object.assign(server, { seen });
}

/** A Koa app with `middleware` mounted, errors kept in a list rather than logged. */
export function appWith(...middleware: Koa.Middleware[]): Koa & { errors: unknown[] } {
  const app = new Koa() as Koa & { errors: unknown[] };
  app.errors = [];
  app.on('error', (err: unknown) => app.errors.push(err));
  for (const m of middleware) app.use(m);
  return app;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

/** One HTTP/1.1 request through node:http, body optional. */
export function send(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
