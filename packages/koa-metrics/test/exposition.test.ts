import { connect } from 'node:net';
import Router from '@koa/router';
import { describeWith, startApp } from '@koa-mesh/testkit';
import Koa from 'koa';
import { Counter, Gauge, Registry } from 'prom-client';
import request from 'supertest';
import { metrics, negotiateFormat, type MetricsOptions } from '../src/index.js';
import { find, parseExposition, promtoolCheckMetrics, value } from './helpers.js';

const OM_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

function tracedApp(options: MetricsOptions = {}) {
  const m = metrics(options);
  const app = new Koa();
  app.silent = true;
  app.use(m);
  // Stands in for @koa-mesh/tracing: the ctx.state fields it documents.
  app.use((ctx, next) => {
    const sampled = ctx.get('x-sampled');
    if (sampled) {
      ctx.state.traceId = ctx.get('x-trace') || TRACE;
      ctx.state.spanId = SPAN;
      ctx.state.sampled = sampled === '1';
    }
    return next();
  });
  const router = new Router();
  router.get('/orders/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  app.use(router.routes());
  return { app, m };
}

describe('content negotiation', () => {
  it('picks OpenMetrics for Prometheus’s Accept header and text otherwise', () => {
    expect(negotiateFormat(OM_ACCEPT)).toBe('openmetrics');
    expect(negotiateFormat('application/openmetrics-text')).toBe('openmetrics');
    expect(negotiateFormat(undefined)).toBe('text');
    expect(negotiateFormat('*/*')).toBe('text');
    expect(negotiateFormat('text/plain;version=0.0.4')).toBe('text');
    expect(negotiateFormat('text/plain, application/openmetrics-text;q=0.5')).toBe('text');
    expect(negotiateFormat('application/openmetrics-text;q=0')).toBe('text');
    expect(negotiateFormat('application/openmetrics-text;version=2.0.0')).toBe('text');
    expect(negotiateFormat('application/json')).toBe('text');
    expect(negotiateFormat(';;;,,=q')).toBe('text');
    expect(negotiateFormat('application/openmetrics-text;q=abc')).toBe('text');
  });

  it('serves both formats from one registry, with the content type the scraper asked for', async () => {
    const { app } = tracedApp({ defaultMetrics: false });
    const agent = request(app.callback());
    await agent.get('/orders/1').expect(200);

    const text = await agent.get('/metrics').expect(200);
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text.headers.vary).toMatch(/Accept/);
    const t = parseExposition(text.text, false);
    expect(t.types.get('http_requests_total')).toBe('counter');
    expect(value(t, 'http_requests_total', { route: '/orders/:id' })).toBe(1);

    const om = await agent.get('/metrics').set('Accept', OM_ACCEPT).expect(200);
    expect(om.headers['content-type']).toBe(
      'application/openmetrics-text; version=1.0.0; charset=utf-8',
    );
    const o = parseExposition(om.text, true);
    // OpenMetrics names the counter family without _total and its samples with it.
    expect(o.types.get('http_requests')).toBe('counter');
    expect(o.types.has('http_requests_total')).toBe(false);
    expect(value(o, 'http_requests_total', { route: '/orders/:id' })).toBe(1);
    expect(o.eof).toBe(true);

    // Rendering OpenMetrics did not rename anything for the next text scrape.
    const again = parseExposition((await agent.get('/metrics')).text, false);
    expect(again.types.get('http_requests_total')).toBe('counter');
  });

  it('answers HEAD without a body and other methods with 405 problem+json', async () => {
    const { app } = tracedApp({ defaultMetrics: false });
    const agent = request(app.callback());
    const head = await agent.head('/metrics').expect(200);
    expect(head.text ?? '').toBe('');
    const post = await agent.post('/metrics').expect(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(post.text)).toMatchObject({
      type: 'urn:koa-mesh:metrics:method-not-allowed',
      status: 405,
      code: 'ERR_KOA_MESH_METRICS_METHOD_NOT_ALLOWED',
    });
  });
});

describe('exemplars', () => {
  it('appear only in OpenMetrics and only for sampled requests', async () => {
    const { app } = tracedApp({ defaultMetrics: false });
    const agent = request(app.callback());
    await agent.get('/orders/1').set('x-sampled', '0').expect(200);
    let o = parseExposition((await agent.get('/metrics').set('Accept', OM_ACCEPT)).text, true);
    expect(o.samples.filter((s) => s.exemplar)).toHaveLength(0);

    await agent.get('/orders/2').set('x-sampled', '1').expect(200);
    o = parseExposition((await agent.get('/metrics').set('Accept', OM_ACCEPT)).text, true);
    const withExemplar = o.samples.filter((s) => s.exemplar);
    expect(withExemplar).toHaveLength(1);
    const [bucket] = withExemplar;
    expect(bucket!.name).toBe('http_request_duration_seconds_bucket');
    expect(bucket!.exemplar!.labels).toEqual({ trace_id: TRACE, span_id: SPAN });
    // The exemplar sits in the bucket its value falls in.
    expect(bucket!.exemplar!.value).toBeLessThanOrEqual(Number(bucket!.labels.le));
    // OpenMetrics timestamps are seconds.
    expect(Math.abs(bucket!.exemplar!.timestamp! - Date.now() / 1000)).toBeLessThan(600);

    const t = await agent.get('/metrics').expect(200);
    expect(t.text).not.toContain(TRACE);
    expect(() => parseExposition(t.text, false)).not.toThrow();
  });

  it('are not taken from malformed trace ids, nor when disabled', async () => {
    const { app } = tracedApp({ defaultMetrics: false });
    await request(app.callback())
      .get('/orders/1')
      .set('x-sampled', '1')
      .set('x-trace', 'x"} 1 # {a="b')
      .expect(200);
    const om = await request(app.callback()).get('/metrics').set('Accept', OM_ACCEPT);
    expect(parseExposition(om.text, true).samples.filter((s) => s.exemplar)).toHaveLength(0);

    const off = tracedApp({ defaultMetrics: false, exemplars: false });
    await request(off.app.callback()).get('/orders/1').set('x-sampled', '1').expect(200);
    const om2 = await request(off.app.callback()).get('/metrics').set('Accept', OM_ACCEPT);
    expect(parseExposition(om2.text, true).samples.filter((s) => s.exemplar)).toHaveLength(0);
  });
});

describe('the registry', () => {
  it('serves the user’s own metrics and default labels beside the request metrics', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'orders' });
    const jobs = new Counter({
      name: 'jobs_processed_total',
      help: 'Jobs.',
      registers: [registry],
    });
    jobs.inc(3);
    const { app, m } = tracedApp({ registry, defaultMetrics: false });
    expect(m.registry).toBe(registry);
    await request(app.callback()).get('/orders/1');
    const t = parseExposition((await request(app.callback()).get('/metrics')).text, false);
    expect(value(t, 'jobs_processed_total', { service: 'orders' })).toBe(3);
    expect(value(t, 'http_requests_total', { service: 'orders', route: '/orders/:id' })).toBe(1);
    const o = parseExposition(
      (await request(app.callback()).get('/metrics').set('Accept', OM_ACCEPT)).text,
      true,
    );
    expect(value(o, 'jobs_processed_total', { service: 'orders' })).toBe(3);
    // prom-client's own rendering of the same registry still works (text format, no exemplars).
    expect(await registry.metrics()).toContain('http_requests_total{');
  });

  it('leaves a metric whose collect() throws out of the scrape, counts it, and serves the rest', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'broken_gauge',
      help: 'Throws on collect.',
      registers: [registry],
      collect() {
        throw new Error('collector down');
      },
    });
    const errors: Error[] = [];
    const { app } = tracedApp({ registry, defaultMetrics: false });
    app.on('error', (err: Error) => errors.push(err));
    const res = await request(app.callback()).get('/metrics').expect(200);
    const t = parseExposition(res.text, false);
    expect(t.types.has('broken_gauge')).toBe(false);
    expect(t.types.has('http_requests_total')).toBe(true);
    expect(errors[0]?.message).toMatch(/broken_gauge.*collector down/);
    const again = parseExposition((await request(app.callback()).get('/metrics')).text, false);
    // The second scrape shows the first one's failure (it is counted after rendering).
    expect(value(again, 'koa_mesh_metrics_scrape_errors_total')).toBe(1);
    expect(errors).toHaveLength(2);
  });

  it('refuses a registry that already holds its metric names, naming the way out', () => {
    const registry = new Registry();
    metrics({ registry, defaultMetrics: false });
    expect(() => metrics({ registry, defaultMetrics: false })).toThrow(
      /@koa-mesh\/metrics: expected `registry` to hold no metric named http_requests_total/,
    );
    expect(() => metrics({ registry, defaultMetrics: false, prefix: 'second_' })).not.toThrow();
  });

  it('applies the prefix to every metric it defines', async () => {
    const { app } = tracedApp({ prefix: 'shop_', defaultMetrics: false });
    await request(app.callback()).get('/orders/1');
    const t = parseExposition((await request(app.callback()).get('/metrics')).text, false);
    expect([...t.types.keys()].every((n) => n.startsWith('shop_'))).toBe(true);
    expect(value(t, 'shop_http_requests_total', { route: '/orders/:id' })).toBe(1);
  });

  it('includes the runtime metrics without the gauges named _total', async () => {
    const { app } = tracedApp();
    const t = parseExposition((await request(app.callback()).get('/metrics')).text, false);
    expect(t.types.get('process_cpu_seconds_total')).toBe('counter');
    expect(t.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(t.types.has('nodejs_active_handles_total')).toBe(false);
    expect(t.types.has('nodejs_active_handles')).toBe(true);
  });
});

describe('securing the endpoint', () => {
  it('lets authorize() deny with 403 problem+json and allow otherwise', async () => {
    const { app } = tracedApp({
      defaultMetrics: false,
      authorize: (ctx) => ctx.get('authorization') === 'Bearer scrape',
    });
    const agent = request(app.callback());
    const denied = await agent.get('/metrics').expect(403);
    expect(JSON.parse(denied.text)).toMatchObject({
      code: 'ERR_KOA_MESH_METRICS_FORBIDDEN',
      status: 403,
    });
    expect(denied.text).not.toContain('http_requests_total');
    await agent.get('/metrics').set('authorization', 'Bearer scrape').expect(200);
  });

  it('denies when authorize() throws, and reports the error', async () => {
    const errors: unknown[] = [];
    const { app } = tracedApp({
      defaultMetrics: false,
      authorize: async () => {
        throw new Error('auth backend down');
      },
    });
    app.on('error', (err) => errors.push(err));
    await request(app.callback()).get('/metrics').expect(403);
    expect(errors).toHaveLength(1);
  });

  it('serves the exposition on a separate listener and not on the app port', async () => {
    const { app, m } = tracedApp({ defaultMetrics: false, listen: { port: 0, host: '127.0.0.1' } });
    const server = await startApp(app);
    try {
      const address = await m.ready;
      await fetch(`${server.url}/orders/5`);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      const base = `http://127.0.0.1:${address!.port}`;
      const res = await fetch(`${base}/metrics`, { headers: { accept: OM_ACCEPT } });
      expect(res.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
      const o = parseExposition(await res.text(), true);
      expect(value(o, 'http_requests_total', { route: '/orders/:id' })).toBe(1);
      expect((await fetch(`${base}/other`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
      expect((await m.healthCheck()).status).toBe('pass');
      await m.close();
      await expect(fetch(`${base}/metrics`)).rejects.toThrow();
      expect((await m.healthCheck()).status).toBe('fail');
    } finally {
      await m.close();
      await server.close();
    }
  });

  it('does not leave the separate listener bound when close() comes before it is bound', async () => {
    const m = metrics({ defaultMetrics: false, listen: { port: 0, host: '127.0.0.1' } });
    await m.close();
    const { port } = (await m.ready)!;
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    expect((await m.healthCheck()).status).toBe('fail');
  });

  it('reports a listener that could not bind through ready and healthCheck()', async () => {
    const first = metrics({ defaultMetrics: false, listen: { port: 0, host: '127.0.0.1' } });
    const { port } = (await first.ready)!;
    const second = metrics({ defaultMetrics: false, listen: { port, host: '127.0.0.1' } });
    await expect(second.ready).rejects.toThrow(/EADDRINUSE/);
    const health = await second.healthCheck();
    expect(health.status).toBe('fail');
    expect(health.output).toMatch(/EADDRINUSE/);
    await first.close();
    await second.close();
  });
});

describeWith(['promtool'], 'promtool check metrics on real scrape output', () => {
  it('finds nothing wrong in the text format, runtime metrics and every label kind included', async () => {
    const { app } = tracedApp({
      sizes: true,
      labels: { version: (ctx) => (ctx.path === '/unknown' ? undefined : 'v"1\\\n2') },
    });
    const agent = request(app.callback());
    await agent.get('/orders/1').set('x-sampled', '1');
    await agent.get('/unknown');
    await agent.post('/orders/1');
    const res = await agent.get('/metrics').expect(200);
    expect(
      find(parseExposition(res.text, false), 'http_requests_total').length,
    ).toBeGreaterThanOrEqual(3);
    const check = promtoolCheckMetrics(res.text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it('catches the finding prom-client’s defaults have (the check can fail)', async () => {
    const registry = new Registry();
    new Gauge({ name: 'nodejs_active_handles_total', help: 'x', registers: [registry] }).set(1);
    const check = promtoolCheckMetrics(await registry.metrics());
    expect(check.output).toMatch(/non-counter metrics should not have "_total" suffix/);
  });

  it('parses the OpenMetrics output (without exemplars) to the end', async () => {
    // promtool 2.42 cannot parse exemplars; without sampled requests the OpenMetrics body has none.
    // Its linter looks HELP up by sample name, so every OpenMetrics counter (family `x`, sample
    // `x_total`) gets "no help text"; anything else, a parse error above all, fails this test.
    const { app } = tracedApp();
    await request(app.callback()).get('/orders/1');
    const om = await request(app.callback()).get('/metrics').set('Accept', OM_ACCEPT);
    const check = promtoolCheckMetrics(om.text);
    const findings = check.output.split('\n').filter(Boolean);
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.filter((f) => !/^[a-z_]+_total no help text$/.test(f))).toEqual([]);
  });
});
