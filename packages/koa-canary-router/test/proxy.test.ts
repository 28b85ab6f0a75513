import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import koaBodyParser from 'koa-bodyparser';
import type Koa from 'koa';
import Koa2 from 'koa2';
import { startApp, waitFor } from '@koa-mesh/testkit';
import { canaryRouter, type CanaryRouterOptions, type ReleaseOutcome } from '../src/index.js';
import { upstreamError } from '../src/proxy.js';
import { appWith, send, sha256, upstream, type Reply } from './helpers.js';

type Router = ReturnType<typeof canaryRouter>;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/** Serves Koa + canaryRouter with `stable` proxying to `target`. */
async function gateway(
  target: CanaryRouterOptions['arms'][string]['target'],
  opts: Partial<CanaryRouterOptions> & {
    before?: Parameters<ReturnType<typeof appWith>['use']>[0][];
    proxyTrust?: boolean;
  } = {},
) {
  const { before = [], proxyTrust = false, ...rest } = opts;
  const router = canaryRouter({ arms: { stable: { target, version: 'v1' } }, ...rest });
  const app = appWith(...before, router);
  app.proxy = proxyTrust;
  const server = await startApp(app);
  open.push(server, router);
  return { router, app, server, url: server.url };
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

describe('proxying', () => {
  it('forwards GET with path, query, headers and status, and copies the response headers', async () => {
    const up = await upstream('up', (req, res) => {
      res.statusCode = 201;
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-upstream', 'yes');
      res.setHeader('content-type', 'text/plain');
      res.end(`${req.method} ${req.url}`);
    });
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/users/7?x=1&y=%20`, { headers: { 'x-custom': 'kept' } });
    expect(res.status).toBe(201);
    expect(res.body.toString()).toBe('GET /users/7?x=1&y=%20');
    // Beside the router's own assignment cookie.
    expect(res.headers['set-cookie']!.filter((c) => !c.startsWith('koa_mesh_canary='))).toEqual([
      'a=1',
      'b=2',
    ]);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-service-version']).toBe('v1');
    expect(up.seen[0]!.headers['x-custom']).toBe('kept');
  });

  it('streams a POST body up and the answer down byte-exact', async () => {
    const up = await upstream('up', (_req, res, body) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(Buffer.concat([body, body]));
    });
    open.push(up);
    const gw = await gateway(up.url);
    const payload = randomBytes(1024 * 1024 + 17);
    const res = await send(`${gw.url}/upload`, { method: 'POST', body: payload });
    expect(res.status).toBe(200);
    expect(up.seen[0]!.body.equals(payload)).toBe(true);
    expect(sha256(res.body)).toBe(sha256(Buffer.concat([payload, payload])));
  });

  it('streams both ways at once: the client reads the first echoed chunk before sending the second', async () => {
    // An upstream echoing as it reads. A proxy that buffered either direction would deadlock here.
    const up = await startApp((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      req.pipe(res);
    });
    open.push(up);
    const gw = await gateway(up.url);
    const received = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/echo`, {
        method: 'POST',
        agent: false,
        headers: { 'transfer-encoding': 'chunked' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text === 'ping-1') req.end('ping-2');
        });
        res.on('end', () => resolve(text));
      });
      req.write('ping-1');
    });
    expect(received).toBe('ping-1ping-2');
  });

  it('passes 100 MB up and 100 MB down with a bounded amount in flight (no buffering)', async () => {
    const total = 100 * 1024 * 1024;
    const chunk = randomBytes(256 * 1024);
    let upstreamGot = 0;
    let clientSent = 0;
    let maxUpGap = 0;
    let upstreamSent = 0;
    const up = await startApp((req, res) => {
      if (req.method === 'POST') {
        req.on('data', (c: Buffer) => {
          upstreamGot += c.length;
          maxUpGap = Math.max(maxUpGap, clientSent - upstreamGot);
          // A slow reader, so that a buffering proxy would let the client run far ahead.
          req.pause();
          setImmediate(() => req.resume());
        });
        req.on('end', () => res.end(String(upstreamGot)));
        return;
      }
      const write = (): void => {
        while (upstreamSent < total) {
          upstreamSent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    open.push(up);
    const gw = await gateway(up.url);

    const uploaded = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/up`, {
        method: 'POST',
        agent: false,
        headers: { 'content-length': String(total) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      const pump = (): void => {
        while (clientSent < total) {
          clientSent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(uploaded).toBe(String(total));

    let clientGot = 0;
    let maxDownGap = 0;
    await new Promise<void>((resolve, reject) => {
      httpRequest(`${gw.url}/down`, { agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          clientGot += c.length;
          maxDownGap = Math.max(maxDownGap, upstreamSent - clientGot);
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    expect(clientGot).toBe(total);
    // What sits in socket buffers and stream high-water marks, far below the 100 MB body.
    expect(maxUpGap).toBeLessThan(40 * 1024 * 1024);
    expect(maxDownGap).toBeLessThan(40 * 1024 * 1024);
  });

  it('reuses pooled keep-alive connections to the upstream', async () => {
    const sockets = new Set<unknown>();
    const up = await upstream('up', (req, res) => {
      sockets.add(req.socket);
      res.end('ok');
    });
    open.push(up);
    const gw = await gateway(up.url);
    for (let i = 0; i < 5; i++) expect((await send(`${gw.url}/`)).status).toBe(200);
    expect(sockets.size).toBe(1);
  });

  it('forwards an absolute-form request target by its path, and answers 400 to `*`', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url);
    const raw = (line: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(gw.server.port, '127.0.0.1', () =>
          socket.write(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`),
        );
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    const absolute = await raw('GET http://elsewhere.example/users/1?x=2 HTTP/1.1');
    expect(absolute).toMatch(/^HTTP\/1\.1 200/);
    expect(up.seen[0]!.url).toBe('/users/1?x=2');
    const star = await raw('OPTIONS * HTTP/1.1');
    expect(star).toMatch(/^HTTP\/1\.1 400/);
    expect(star).toContain('ERR_KOA_MESH_CANARY_BAD_REQUEST_TARGET');
  });

  it('answers HEAD and 204 without a body', async () => {
    const up = await upstream('up', (req, res) => {
      if (req.url === '/empty') {
        res.statusCode = 204;
        return res.end();
      }
      res.setHeader('content-length', '42');
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(42));
    });
    open.push(up);
    const gw = await gateway(up.url);
    const head = await send(`${gw.url}/thing`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('42');
    expect(head.body.length).toBe(0);
    const empty = await send(`${gw.url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
  });

  it('round-robins over a list of URLs', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    open.push(a, b);
    const gw = await gateway([a.url, new URL(b.url)]);
    const names: unknown[] = [];
    for (let i = 0; i < 4; i++) names.push(json(await send(`${gw.url}/`)).upstream);
    expect(names).toEqual(['a', 'b', 'a', 'b']);
  });

  it('strips a prefix and prepends the target base path', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(`${up.url}/base/`, { proxy: { stripPrefix: '/api' } });
    expect(json(await send(`${gw.url}/api/users?x=1`)).url).toBe('/base/users?x=1');
    expect(json(await send(`${gw.url}/api`)).url).toBe('/base/');
    expect(json(await send(`${gw.url}/apix`)).url).toBe('/base/apix');
  });

  it('adds per-arm request headers, replacing the client copies', async () => {
    const up = await upstream('up');
    open.push(up);
    const router = canaryRouter({
      arms: { stable: { target: up.url, headers: { 'X-Arm': 'stable', 'X-Env': 'prod' } } },
    });
    const server = await startApp(appWith(router));
    open.push(server, router);
    await send(`${server.url}/`, { headers: { 'x-arm': 'forged' } });
    expect(up.seen[0]!.headers['x-arm']).toBe('stable');
    expect(up.seen[0]!.headers['x-env']).toBe('prod');
  });
});

describe('on Koa 2', () => {
  it('proxies small and streamed bodies and renders its errors', async () => {
    const up = await upstream('up', (req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('a');
        return setImmediate(() => res.end('b'));
      }
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    const gone = await startApp((_q, s) => s.end());
    await gone.close();
    open.push(up);
    const router = canaryRouter({
      arms: { stable: { target: up.url }, broken: { target: gone.url } },
      rules: [{ pathPrefix: '/broken', arm: 'broken' }],
    });
    const app = new Koa2();
    app.on('error', () => undefined);
    app.use(router as never);
    const server = await startApp(app);
    open.push(server, router);
    const small = await send(`${server.url}/`);
    expect(small.body.toString()).toBe('{"ok":true}');
    expect(small.headers['content-type']).toBe('application/json');
    expect((await send(`${server.url}/stream`)).body.toString()).toBe('ab');
    const broken = await send(`${server.url}/broken`);
    expect(broken.status).toBe(502);
    expect(broken.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('headers', () => {
  it("keeps the router's assignment cookie when the upstream sets cookies too", async () => {
    const up = await upstream('up', (_req, res) => {
      res.setHeader('set-cookie', ['session=abc; HttpOnly', 'theme=dark']);
      res.end('ok');
    });
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/`);
    const cookies = res.headers['set-cookie']!;
    expect(cookies.filter((c) => c.startsWith('koa_mesh_canary='))).toHaveLength(1);
    expect(cookies).toEqual(expect.arrayContaining(['session=abc; HttpOnly', 'theme=dark']));
    expect(cookies).toHaveLength(3);
  });

  it("merges the upstream's Vary with the one the decision needs, rather than replacing it", async () => {
    const up = await upstream('up', (_req, res) => {
      res.setHeader('vary', 'Accept-Encoding');
      res.end('ok');
    });
    open.push(up);
    const gw = await gateway(up.url, {
      rules: [{ header: 'x-canary', value: 'never-sent', arm: 'stable' }],
    });
    const res = await send(`${gw.url}/`);
    const vary = String(res.headers.vary)
      .split(',')
      .map((v) => v.trim().toLowerCase());
    expect(vary).toEqual(expect.arrayContaining(['x-canary', 'cookie', 'accept-encoding']));
    expect(vary).toHaveLength(3);
  });

  it('removes hop-by-hop request headers, including those Connection names', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url);
    await send(`${gw.url}/`, {
      headers: {
        connection: 'keep-alive, X-Hop-Secret',
        'x-hop-secret': 'drop me',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        'x-end-to-end': 'keep me',
      },
    });
    const h = up.seen[0]!.headers;
    for (const name of [
      'x-hop-secret',
      'keep-alive',
      'proxy-authorization',
      'proxy-connection',
      'te',
    ]) {
      expect(h[name]).toBeUndefined();
    }
    expect(h['x-end-to-end']).toBe('keep me');
  });

  it('removes hop-by-hop response headers, including those Connection names', async () => {
    // A raw upstream, to send exactly the headers under test.
    const sockets = new Set<Socket>();
    const raw = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('data', () => {
        socket.write(
          [
            'HTTP/1.1 200 OK',
            'Connection: keep-alive, X-Up-Hop',
            'X-Up-Hop: secret',
            'Keep-Alive: timeout=5',
            'Proxy-Authenticate: Basic',
            'Trailer: X-Checksum',
            'X-Up-End: kept',
            'Content-Length: 2',
            '',
            'ok',
          ].join('\r\n'),
        );
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    open.push({
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          raw.close(() => r());
        }),
    });
    const port = (raw.address() as { port: number }).port;
    const gw = await gateway(`http://127.0.0.1:${port}`);
    const res = await send(`${gw.url}/`);
    expect(res.body.toString()).toBe('ok');
    expect(res.headers['x-up-end']).toBe('kept');
    for (const name of ['x-up-hop', 'proxy-authenticate', 'trailer']) {
      expect(res.headers[name]).toBeUndefined();
    }
    expect(res.headers['keep-alive']).not.toBe('timeout=5');
  });

  it('overwrites X-Forwarded-* when Koa does not trust the proxy in front, and rewrites Host', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url);
    await send(`${gw.url}/`, {
      headers: {
        host: 'public.example',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      },
    });
    const h = up.seen[0]!.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('public.example');
    expect(h.host).toBe(`127.0.0.1:${up.port}`);
  });

  it('drops a client Forwarded and X-Real-IP when Koa does not trust the proxy in front', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url);
    await send(`${gw.url}/`, {
      headers: { forwarded: 'for=6.6.6.6;proto=https', 'x-real-ip': '6.6.6.6' },
    });
    const h = up.seen[0]!.headers;
    expect(h.forwarded).toBeUndefined();
    expect(h['x-real-ip']).toBeUndefined();
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('keeps X-Real-IP and appends this hop to Forwarded when app.proxy is set', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, { proxyTrust: true });
    await send(`${gw.url}/`, {
      headers: {
        host: 'public.example:8443',
        forwarded: 'for=203.0.113.9;proto=https',
        'x-real-ip': '203.0.113.9',
      },
    });
    const h = up.seen[0]!.headers;
    expect(h.forwarded).toBe(
      'for=203.0.113.9;proto=https, for=127.0.0.1;proto=http;host="public.example:8443"',
    );
    expect(h['x-real-ip']).toBe('203.0.113.9');
  });

  it('appends to X-Forwarded-For and keeps X-Forwarded-Proto/Host when app.proxy is set; preserves Host on request', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, { proxyTrust: true, proxy: { host: 'preserve' } });
    await send(`${gw.url}/`, {
      headers: {
        host: 'public.example',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'www.example',
      },
    });
    const h = up.seen[0]!.headers;
    expect(h['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe('www.example');
    expect(h.host).toBe('public.example');
  });
});

describe('upstream errors', () => {
  it('answers 502 problem+json when the connection is refused', async () => {
    const gone = await startApp((_q, s) => s.end());
    await gone.close();
    const gw = await gateway(gone.url);
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-service-version']).toBe('v1');
    expect(json(res)).toMatchObject({
      status: 502,
      code: 'ERR_KOA_MESH_CANARY_UPSTREAM_UNREACHABLE',
      type: 'urn:koa-mesh:canary-router:upstream-unreachable',
    });
    expect(gw.app.errors).toHaveLength(1);
  });

  it('answers 502 when the upstream resets before sending headers', async () => {
    const up = await startApp((req) => req.socket.destroy());
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(502);
  });

  it('answers 504 when the upstream sends no headers in headersTimeoutMs', async () => {
    const up = await startApp(() => undefined); // never answers
    open.push(up);
    const gw = await gateway(up.url, { proxy: { headersTimeoutMs: 200 } });
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(504);
    expect(json(res).code).toBe('ERR_KOA_MESH_CANARY_UPSTREAM_TIMEOUT');
  });

  it('answers 504 when a small sized body stalls past bodyTimeoutMs, and cuts a streamed one', async () => {
    const up = await startApp((req, res) => {
      const sized = req.url === '/sized';
      res.writeHead(200, sized ? { 'content-length': '100' } : { 'content-type': 'text/plain' });
      res.write('stalled..'); // and nothing more
    });
    open.push(up);
    const gw = await gateway(up.url, { proxy: { bodyTimeoutMs: 200 } });
    const sized = await send(`${gw.url}/sized`);
    expect(sized.status).toBe(504);
    await expect(send(`${gw.url}/streamed`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('maps each undici error class to its status', () => {
    const code = (c: string) => upstreamError(Object.assign(new Error(c), { code: c })).status;
    expect(code('UND_ERR_CONNECT_TIMEOUT')).toBe(503);
    expect(code('UND_ERR_HEADERS_TIMEOUT')).toBe(504);
    expect(code('ECONNREFUSED')).toBe(502);
    expect(code('ENOTFOUND')).toBe(502);
    expect(code('ECONNRESET')).toBe(502);
    expect(code('UND_ERR_SOCKET')).toBe(502);
  });

  it.each([
    ['Koa 3', undefined],
    ['Koa 2', Koa2],
  ])('destroys the client connection when the upstream resets mid-body (%s)', async (_name, K) => {
    const up = await startApp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }); // chunked: a clean end would hide the cut
      res.write('partial');
      setImmediate(() => req.socket.destroy());
    });
    open.push(up);
    let url: string;
    if (K) {
      const router = canaryRouter({ arms: { stable: { target: up.url } } });
      const app = new K();
      app.on('error', () => undefined);
      app.use(router as never);
      const server = await startApp(app);
      open.push(server, router);
      url = server.url;
    } else {
      url = (await gateway(up.url)).url;
    }
    const outcome = await new Promise<string>((resolve) => {
      httpRequest(`${url}/`, { agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('error', () => resolve(`cut after "${text}"`));
        res.on('aborted', () => resolve(`cut after "${text}"`));
        res.on('end', () => resolve(`clean end after "${text}"`));
      })
        .on('error', (e) => resolve(`request error ${e.message}`))
        .end();
    });
    expect(outcome).toMatch(/^cut after/);
  });
});

describe('small bodies read whole (bufferLimitBytes)', () => {
  const truncating = () =>
    startApp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('only ten..');
      setImmediate(() => req.socket.destroy());
    });

  it('answers 502 when a small sized body breaks off, since nothing was sent yet', async () => {
    const up = await truncating();
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(502);
    expect(json(res).code).toBe('ERR_KOA_MESH_CANARY_UPSTREAM_UNREACHABLE');
  });

  it('streams it instead with bufferLimitBytes 0, cutting the client on a break', async () => {
    const up = await truncating();
    open.push(up);
    const gw = await gateway(up.url, { proxy: { bufferLimitBytes: 0 } });
    await expect(send(`${gw.url}/`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('keeps the upstream Content-Length and Content-Type of a buffered body', async () => {
    const up = await upstream('up', (_q, res) => {
      res.setHeader('content-type', 'text/csv');
      res.end('a,b\n1,2\n');
    });
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/`);
    expect(res.headers['content-type']).toBe('text/csv');
    expect(res.headers['content-length']).toBe('8');
    expect(res.body.toString()).toBe('a,b\n1,2\n');
  });
});

describe('client aborts and the resolver release contract', () => {
  function recordingResolver(url: string) {
    const releases: Array<{ url: string; outcome: ReleaseOutcome }> = [];
    const resolver = Object.assign(async () => new URL(url), {
      release(u: URL, outcome: ReleaseOutcome) {
        releases.push({ url: u.href, outcome });
      },
    });
    return { resolver, releases };
  }

  it('releases once with ok and status after a successful exchange', async () => {
    const up = await upstream('up');
    open.push(up);
    const { resolver, releases } = recordingResolver(`${up.url}/`);
    const gw = await gateway(resolver);
    const res = await send(`${gw.url}/x`);
    expect(json(res).upstream).toBe('up');
    await waitFor(() => releases.length >= 1);
    expect(releases[0]).toEqual({
      url: `${up.url}/`,
      outcome: { ok: true, status: 200, error: undefined, durationMs: expect.any(Number) },
    });
    // Two more exchanges: a duplicate release of any would show as a fourth entry.
    await send(`${gw.url}/y`);
    await waitFor(() => releases.length >= 2);
    await send(`${gw.url}/z`);
    await waitFor(() => releases.length >= 3);
    expect(releases).toHaveLength(3);
  });

  it('releases once with the error on refused, timeout and 5xx', async () => {
    const gone = await startApp((_q, s) => s.end());
    await gone.close();
    const refused = recordingResolver(gone.url);
    const gw1 = await gateway(refused.resolver);
    expect((await send(`${gw1.url}/`)).status).toBe(502);
    await waitFor(() => refused.releases.length === 1);
    expect(refused.releases[0]!.outcome).toMatchObject({ ok: false, status: undefined });
    expect((refused.releases[0]!.outcome.error as { code?: string }).code).toBe('ECONNREFUSED');

    const silent = await startApp(() => undefined);
    open.push(silent);
    const slow = recordingResolver(silent.url);
    const gw2 = await gateway(slow.resolver, { proxy: { headersTimeoutMs: 150 } });
    expect((await send(`${gw2.url}/`)).status).toBe(504);
    await waitFor(() => slow.releases.length === 1);
    expect(slow.releases[0]!.outcome.ok).toBe(false);

    const failing = await upstream('up', (_q, s) => {
      s.statusCode = 503;
      s.end('busy');
    });
    open.push(failing);
    const five = recordingResolver(failing.url);
    const gw3 = await gateway(five.resolver);
    expect((await send(`${gw3.url}/`)).status).toBe(503);
    await waitFor(() => five.releases.length === 1);
    expect(five.releases[0]!.outcome).toMatchObject({ ok: false, status: 503 });
    // Nothing more arrives later.
    await send(`${gw3.url}/`);
    await waitFor(() => five.releases.length === 2);
  });

  it('aborts the upstream request when the client disconnects before the headers, and releases once', async () => {
    let upstreamClosed = false;
    let arrived = false;
    const up = await startApp((req) => {
      arrived = true;
      req.socket.on('close', () => (upstreamClosed = true));
    });
    open.push(up);
    const { resolver, releases } = recordingResolver(up.url);
    await gateway(resolver).then(async (gw) => {
      const req = httpRequest(`${gw.url}/`, { agent: false });
      req.on('error', () => undefined);
      req.end();
      await waitFor(() => arrived);
      req.destroy();
      await waitFor(() => upstreamClosed);
      await waitFor(() => releases.length === 1);
      expect(releases[0]!.outcome.ok).toBe(false);
    });
  });

  it('sends nothing upstream when the client disconnected while the resolver was resolving', async () => {
    const up = await upstream('up');
    open.push(up);
    const releases: ReleaseOutcome[] = [];
    let resolving = false;
    const resolver = Object.assign(
      async (ctx: Koa.Context) => {
        resolving = true;
        // A slow lookup (a cold discovery cache, say) that outlasts the client.
        await new Promise<void>((resolve) => ctx.res.once('close', resolve));
        return new URL(up.url);
      },
      { release: (_u: URL, outcome: ReleaseOutcome) => void releases.push(outcome) },
    );
    const gw = await gateway(resolver);
    const req = httpRequest(`${gw.url}/`, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => resolving);
    req.destroy();
    await waitFor(() => releases.length === 1);
    // Not charged to the instance as a success (nor a failure of its own): no status, no exchange.
    expect(releases[0]).toMatchObject({ ok: false, status: undefined });
    expect(up.seen).toHaveLength(0);
  });

  it('aborts the upstream response when the client disconnects mid-body, without crashing', async () => {
    let upstreamClosed = false;
    const up = await startApp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
      res.on('close', () => (upstreamClosed = true));
    });
    open.push(up);
    const { resolver, releases } = recordingResolver(up.url);
    const gw = await gateway(resolver);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.on('timeout', reject);
      req.end();
    });
    await waitFor(() => upstreamClosed);
    await waitFor(() => releases.length === 1);
    expect(releases[0]!.outcome).toMatchObject({ ok: false, status: 200 });
    // The gateway is still serving.
    const up2 = await upstream('again');
    open.push(up2);
    const gw2 = await gateway(up2.url);
    expect((await send(`${gw2.url}/`)).status).toBe(200);
  });

  it('survives a client that leaves after ctx.body is set but before Koa pipes it (undici body without error listener)', async () => {
    // Regression for the trap in DESIGN.md: Koa destroys the stream body when the response closes,
    // undici's body then emits an abort error, and Koa 3 only listens for errors once it pipes.
    let bodySet = false;
    const up = await startApp((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
    });
    open.push(up);
    const { resolver, releases } = recordingResolver(up.url);
    const slowOuter: Parameters<ReturnType<typeof appWith>['use']>[0] = async (ctx, next) => {
      await next();
      bodySet = ctx.body !== undefined;
      // An outer middleware still busy (a log flush, say) when the client goes away.
      await new Promise<void>((resolve) => ctx.res.once('close', resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const gw = await gateway(resolver, { before: [slowOuter] });
    const req = httpRequest(`${gw.url}/`, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => bodySet);
    req.destroy();
    await waitFor(() => releases.length === 1);
    expect(releases[0]!.outcome.ok).toBe(false);
    // Still alive and serving.
    const up2 = await upstream('again');
    open.push(up2);
    expect((await send(`${(await gateway(up2.url)).url}/`)).status).toBe(200);
  });

  it('reports a throwing release without failing the request', async () => {
    const up = await upstream('up');
    open.push(up);
    const resolver = Object.assign(async () => new URL(up.url), {
      release() {
        throw new Error('release broke');
      },
    });
    const gw = await gateway(resolver);
    expect((await send(`${gw.url}/`)).status).toBe(200);
    await waitFor(() => gw.app.errors.length === 1);
    expect((gw.app.errors[0] as Error).message).toBe('release broke');
  });
});

describe('bodies read by a body parser', () => {
  const weird = '{"b":  2,\n "a":"é\\u00e9",  "n": 1.50}';

  it.each([
    ['@koa/bodyparser', () => bodyParser()],
    ['koa-bodyparser', () => koaBodyParser()],
  ])('replays rawBody byte-exact after %s', async (_name, parser) => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, { before: [parser() as never] });
    const res = await send(`${gw.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: weird,
    });
    expect(res.status).toBe(200);
    expect(up.seen[0]!.body.toString('utf8')).toBe(weird);
    expect(up.seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength(weird)));
    const form = 'b=2&a=%C3%A9&a=x';
    await send(`${gw.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(up.seen[1]!.body.toString('utf8')).toBe(form);
  });

  it('answers 500 with how to fix it when the body was read and no rawBody is left', async () => {
    const up = await upstream('up');
    open.push(up);
    const drain: Parameters<ReturnType<typeof appWith>['use']>[0] = async (ctx, next) => {
      for await (const _ of ctx.req) void _;
      await next();
    };
    const gw = await gateway(up.url, { before: [drain] });
    const res = await send(`${gw.url}/`, { method: 'POST', body: 'data' });
    expect(res.status).toBe(500);
    expect(json(res)).toMatchObject({
      code: 'ERR_KOA_MESH_CANARY_BODY_CONSUMED',
      detail: expect.stringContaining('mount canaryRouter before the body parser'),
    });
    expect(up.seen).toHaveLength(0);
  });

  it('streams the body when a parser skipped it (unparsed content type)', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, { before: [bodyParser() as never] });
    const payload = randomBytes(4096);
    await send(`${gw.url}/`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: payload,
    });
    expect(up.seen[0]!.body.equals(payload)).toBe(true);
  });
});

describe('trace context', () => {
  it('injects the active context through @opentelemetry/api when a propagator is registered', async () => {
    const api = await import('@opentelemetry/api');
    api.propagation.setGlobalPropagator({
      inject: (_c, carrier, setter) =>
        setter.set(
          carrier,
          'traceparent',
          '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        ),
      extract: (c) => c,
      fields: () => ['traceparent'],
    });
    try {
      const up = await upstream('up');
      open.push(up);
      const gw = await gateway(up.url);
      await send(`${gw.url}/`, {
        headers: { traceparent: '00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01' },
      });
      const raw = up.seen[0]!.rawHeaders;
      const values = raw.filter(
        (_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'traceparent',
      );
      expect(values).toEqual(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
    } finally {
      api.propagation.disable();
    }
  });

  it('passes the client traceparent through untouched when no propagator is registered', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url);
    const tp = '00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01';
    await send(`${gw.url}/`, { headers: { traceparent: tp } });
    expect(up.seen[0]!.headers.traceparent).toBe(tp);
  });
});

void (undefined as unknown as Router);
