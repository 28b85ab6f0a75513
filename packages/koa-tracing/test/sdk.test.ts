// @koa-mesh/tracing/sdk: one call starts a registered SDK; spans reach a real OTLP/HTTP receiver.
import { context, propagation, trace } from '@opentelemetry/api';
import { join } from 'node:path';
import { startApp, startNode, waitFor } from '@koa-mesh/testkit';
import Koa from 'koa';
import request from 'supertest';
import { injectTraceHeaders, tracing } from '../src/index.js';
import { MEMORY_EXPORTER_MAX_SPANS, MemorySpanExporter, startTracing } from '../src/sdk.js';

function app(): Koa {
  const a = new Koa();
  a.use(tracing());
  a.use(async (ctx) => {
    await Promise.resolve();
    // context.active() works downstream: startTracing registered a context manager.
    ctx.body = injectTraceHeaders({});
  });
  return a;
}

describe('startTracing', () => {
  it('records request spans through the global provider (memory exporter by default)', async () => {
    const sdk = await startTracing({ serviceName: 'users', serviceVersion: '1.2.3' });
    try {
      const res = await request(app().callback()).get('/x').expect(200);
      const [span] = sdk.memory!.getFinishedSpans();
      expect(span!.name).toBe('GET');
      expect(span!.resource.attributes['service.name']).toBe('users');
      expect(span!.resource.attributes['service.version']).toBe('1.2.3');
      expect(res.body.traceparent).toBe(
        `00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`,
      );
    } finally {
      await sdk.shutdown();
    }
  });

  it('keeps the default memory exporter bounded to the most recent spans', async () => {
    const sdk = await startTracing({ serviceName: 'users' });
    try {
      expect(sdk.memory).toBeInstanceOf(MemorySpanExporter);
      expect(sdk.memory!.maxSpans).toBe(MEMORY_EXPORTER_MAX_SPANS);
    } finally {
      await sdk.shutdown();
    }
    const memory = new MemorySpanExporter(3);
    const results: number[] = [];
    for (let i = 0; i < 20; i++) {
      memory.export([{ name: `s${i}` } as never], (r) => results.push(r.code));
    }
    expect(memory.getFinishedSpans().map((s) => s.name)).toEqual(['s17', 's18', 's19']);
    expect(results.every((code) => code === 0)).toBe(true);
    memory.reset();
    expect(memory.getFinishedSpans()).toEqual([]);
    await memory.shutdown();
    memory.export([{ name: 'late' } as never], (r) => results.push(r.code));
    expect(results.at(-1)).toBe(1);
    expect(() => new MemorySpanExporter(0)).toThrow(/`maxSpans` to be a positive integer, got 0/);
  });

  it('registers a MeshPropagator with the requested formats', async () => {
    const sdk = await startTracing({ serviceName: 's', propagators: ['b3'] });
    try {
      expect(propagation.fields()).toContain('b3');
      expect(propagation.fields()).not.toContain('traceparent');
    } finally {
      await sdk.shutdown();
    }
  });

  it('exports over OTLP/HTTP to the configured endpoint', async () => {
    const bodies: string[] = [];
    const receiver = await startApp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString('utf8')}`);
        res.setHeader('content-type', 'application/json');
        res.end('{}');
      });
    });
    try {
      const child = await startNode(join(__dirname, 'fixtures', 'otlp-service.ts'), {
        args: [`${receiver.url}/v1/traces`],
        readyLine: /flushed/,
      });
      await child.stop();
      const body = await waitFor(() => bodies[0]);
      expect(body).toMatch(/^POST \/v1\/traces /);
      expect(body).toContain('orders-otlp');
      expect(body).toContain('/orders/1');
    } finally {
      await receiver.close();
    }
  });

  it('unregisters its globals on shutdown, so it can start again', async () => {
    const first = await startTracing({ serviceName: 'a' });
    await first.shutdown();
    expect(trace.getTracer('x').startSpan('y').isRecording()).toBe(false);
    const second = await startTracing({ serviceName: 'b' });
    try {
      expect(trace.getTracer('x').startSpan('y').isRecording()).toBe(true);
    } finally {
      await second.shutdown();
    }
    expect(context.active()).toBeDefined();
  });

  it('refuses to start over another registered provider', async () => {
    const first = await startTracing({ serviceName: 'a' });
    try {
      await expect(startTracing({ serviceName: 'b' })).rejects.toThrow(
        '@koa-mesh/tracing/sdk: another TracerProvider is already registered globally',
      );
    } finally {
      await first.shutdown();
    }
  });

  it('validates its options', async () => {
    await expect(startTracing({ serviceName: '' })).rejects.toThrow(
      '@koa-mesh/tracing/sdk: expected `serviceName` to be a non-empty string, got ""',
    );
    await expect(startTracing({ serviceName: 's', endpoint: 'not a url' })).rejects.toThrow(
      '@koa-mesh/tracing/sdk: expected `endpoint` to be a URL, got "not a url"',
    );
    await expect(startTracing({ serviceName: 's', exporter: 'zipkin' as never })).rejects.toThrow(
      "@koa-mesh/tracing/sdk: expected `exporter` to be a SpanExporter, 'otlp', 'console' or 'memory', got \"zipkin\"",
    );
  });

  it('rejects a bad sampler, headers, resourceAttributes or propagators at start, naming the option', async () => {
    // A sampler the SDK cannot call used to be accepted, and then failed every request with a 500.
    await expect(startTracing({ serviceName: 's', sampler: 'always_on' as never })).rejects.toThrow(
      '@koa-mesh/tracing/sdk: expected `sampler` to be a Sampler (an object with shouldSample()), got "always_on"',
    );
    await expect(
      startTracing({ serviceName: 's', headers: { 'x-api-key': 1 } as never }),
    ).rejects.toThrow(
      '@koa-mesh/tracing/sdk: expected `headers` to be an object of string values, got object',
    );
    await expect(
      startTracing({ serviceName: 's', resourceAttributes: 'env=prod' as never }),
    ).rejects.toThrow(
      '@koa-mesh/tracing/sdk: expected `resourceAttributes` to be an object, got "env=prod"',
    );
    for (const propagators of [[], ['b3', 'b3'], ['w3c'], 'b3']) {
      await expect(
        startTracing({ serviceName: 's', propagators: propagators as never }),
      ).rejects.toThrow(
        "@koa-mesh/tracing/sdk: expected `propagators` to be a non-empty array of distinct formats among 'tracecontext', 'b3', 'b3multi', 'jaeger'",
      );
    }
    // Nothing was registered by the refused calls.
    expect(trace.getTracerProvider().getTracer('t').startSpan('x').isRecording()).toBe(false);
  });
});
