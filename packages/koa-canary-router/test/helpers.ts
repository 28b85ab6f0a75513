import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
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
