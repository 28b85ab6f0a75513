import Koa from 'koa';
import request from 'supertest';
import { HttpError } from '../src/http/errors.js';
import { problemHandler } from '../src/http/problem.js';
import { createLogger } from '../src/logger.js';

function appThrowing(thrown: () => unknown, lines: string[] = []): Koa {
  const app = new Koa();
  app.use(async (ctx, next) => {
    ctx.state.requestId = 'req-1';
    await next();
  });
  app.use(problemHandler(createLogger('error', {}, (line) => lines.push(line))));
  app.use(async (ctx) => {
    ctx.set('X-Before-Throw', 'kept');
    throw thrown();
  });
  return app;
}

describe('problem handler', () => {
  it('hides an unexpected error behind a 500 problem and logs it', async () => {
    const lines: string[] = [];
    const res = await request(
      appThrowing(() => new Error('db password is hunter2'), lines).callback(),
    ).get('/x');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'urn:koa-mesh:demo:http-500',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Internal Server Error',
      code: 'ERR_DEMO_INTERNAL',
      requestId: 'req-1',
    });
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      requestId: 'req-1',
      err: { message: 'db password is hunter2' },
    });
  });

  it('logs a 5xx the code exposes on purpose (a full store) as a warning, with its code', async () => {
    const lines: string[] = [];
    const full = new HttpError('ERR_DEMO_STORAGE_FULL', 507, 'Insufficient storage', 'full', {
      expose: true,
    });
    const app = new Koa();
    app.use(problemHandler(createLogger('warn', {}, (line) => lines.push(line))));
    app.use(() => {
      throw full;
    });
    const res = await request(app.callback()).post('/api/users').expect(507);
    expect(res.body).toMatchObject({ code: 'ERR_DEMO_STORAGE_FULL', detail: 'full' });
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn']);
  });

  it('honours status, expose, headers and code of Koa-style errors', async () => {
    const err = Object.assign(new Error('slow down'), {
      status: 503,
      expose: true,
      headers: { 'Retry-After': '7' },
      code: 'ERR_KOA_MESH_BREAKER_OPEN',
      type: 'urn:koa-mesh:breaker:open',
    });
    const res = await request(appThrowing(() => err).callback()).get('/x');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['x-before-throw']).toBe('kept');
    expect(res.body).toMatchObject({
      type: 'urn:koa-mesh:breaker:open',
      status: 503,
      detail: 'slow down',
      code: 'ERR_KOA_MESH_BREAKER_OPEN',
      requestId: 'req-1',
    });
  });

  it('turns a thrown non-error and an invalid status into a 500', async () => {
    for (const thrown of ['a string', null, { status: 200 }, { status: 'teapot' }]) {
      const res = await request(appThrowing(() => thrown).callback()).get('/x');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('ERR_DEMO_INTERNAL');
    }
  });

  it('keeps the detail of exposed 4xx errors and gives them a generic code when they have none', async () => {
    const res = await request(
      appThrowing(() => Object.assign(new Error('nope'), { status: 418 })).callback(),
    ).get('/x');
    expect(res.status).toBe(418);
    expect(res.body).toMatchObject({
      detail: 'nope',
      code: 'ERR_HTTP_418',
      type: 'urn:koa-mesh:demo:http-418',
    });
    const own = await request(
      appThrowing(
        () => new HttpError('ERR_DEMO_GONE_FISHING', 409, 'Conflict', 'fishing'),
      ).callback(),
    ).get('/x');
    expect(own.body).toMatchObject({
      code: 'ERR_DEMO_GONE_FISHING',
      type: 'urn:koa-mesh:demo:gone-fishing',
    });
  });
});
