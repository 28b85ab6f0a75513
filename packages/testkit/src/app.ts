import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Closes the listener and every open connection; resolves when the server has closed. */
  close(): Promise<void>;
}

/** Anything with Koa's `callback()`, so the testkit does not pin a Koa version. */
export interface HasCallback {
  callback(): RequestListener;
}

/** Serves a Koa app (or a plain request listener) on 127.0.0.1 and a free port. */
export async function startApp(app: HasCallback | RequestListener): Promise<RunningServer> {
  const listener = typeof app === 'function' ? app : app.callback();
  const server = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
