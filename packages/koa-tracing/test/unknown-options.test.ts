// Unknown option names are refused at construction: a misspelt option used to keep its default
// without a word (`ignor` traced the health checks, `endPoint` exported nowhere).
import { propagation, trace, type TracerProvider } from '@opentelemetry/api';
import Koa from 'koa';
import request from 'supertest';
import {
  MeshPropagator,
  traceInterceptor,
  tracing,
  type MeshPropagatorOptions,
  type TracingOptions,
} from '../src/index.js';
import { startTracing, type StartTracingOptions } from '../src/sdk.js';

const P = '@koa-mesh/tracing: unknown option';
const TRACING =
  '`tracerProvider`, `tracerName`, `propagators`, `baggage`, `requestIdHeader`, `generateRequestId`, `serverTiming`, `restartAtEdge`, `ignore`, `route`';
const SDK =
  '`serviceName`, `serviceVersion`, `resourceAttributes`, `exporter`, `endpoint`, `headers`, `sampler`, `propagators`';

describe('unknown options', () => {
  describe('tracing()', () => {
    it.each<[string, object, string]>([
      [
        'a misspelt option, with the suggestion',
        { ignor: ['/health'] },
        `${P} \`ignor\` (did you mean \`ignore\`?); expected one of ${TRACING}`,
      ],
      [
        'an option in the wrong case',
        { requestIDHeader: 'x-correlation-id' },
        `${P} \`requestIDHeader\` (did you mean \`requestIdHeader\`?); expected one of ${TRACING}`,
      ],
      [
        'an option of another API (startTracing’s sampler)',
        { sampler: {} },
        `${P} \`sampler\`; expected one of ${TRACING}`,
      ],
    ])('rejects %s with a TypeError naming it', (_name, options, message) => {
      const build = () => tracing(options as TracingOptions);
      expect(build).toThrow(TypeError);
      expect(build).toThrow(message);
    });

    it('ignores unknown keys set to undefined, and does not check the user’s tracer provider', async () => {
      // A provider carrying more than getTracer (an SDK's does), given as a user object.
      const getTracer = jest.fn((name: string) => trace.getTracerProvider().getTracer(name));
      const provider = { getTracer, forceFlush: () => Promise.resolve(), resource: {} };
      const app = new Koa();
      app.use(
        tracing({
          tracerProvider: provider as TracerProvider,
          tracerName: 'users',
          ignore: undefined,
          ignor: undefined,
        } as TracingOptions),
      );
      app.use((ctx) => {
        ctx.body = (ctx.state as { requestId?: string }).requestId;
      });
      const res = await request(app.callback()).get('/').set('x-request-id', 'req-1').expect(200);
      expect(res.text).toBe('req-1');
      expect(getTracer).toHaveBeenCalledWith('users');
      // The same unknown key with a value is refused.
      expect(() => tracing({ ignor: ['/health'] } as TracingOptions)).toThrow(`${P} \`ignor\``);
    });
  });

  describe('MeshPropagator', () => {
    it('rejects an unknown option, with the suggestion', () => {
      const build = () => new MeshPropagator({ propagator: ['b3'] } as MeshPropagatorOptions);
      expect(build).toThrow(TypeError);
      expect(build).toThrow(
        `${P} \`propagator\` (did you mean \`propagators\`?); expected one of \`propagators\`, \`baggage\``,
      );
      expect(() => new MeshPropagator({ formats: ['b3'] } as MeshPropagatorOptions)).toThrow(
        `${P} \`formats\`; expected one of \`propagators\`, \`baggage\``,
      );
    });

    it('ignores unknown keys set to undefined', () => {
      const propagator = new MeshPropagator({
        propagators: ['b3'],
        baggage: undefined,
        propagator: undefined,
      } as MeshPropagatorOptions);
      expect(propagator.fields()).toEqual(expect.arrayContaining(['b3', 'baggage']));
      expect(propagator.fields()).not.toContain('traceparent');
      expect(() => new MeshPropagator({ propagator: ['b3'] } as MeshPropagatorOptions)).toThrow(
        TypeError,
      );
    });
  });

  describe('traceInterceptor()', () => {
    it('rejects an unknown option once, when it is made (a fixed context would go stale)', () => {
      const build = (o: object) => () =>
        traceInterceptor(o as Parameters<typeof traceInterceptor>[0]);
      expect(build({ ctx: {} })).toThrow(TypeError);
      expect(build({ ctx: {} })).toThrow(
        `${P} \`ctx\`; expected one of \`propagators\`, \`baggage\``,
      );
      expect(build({ Baggage: false })).toThrow(
        `${P} \`Baggage\` (did you mean \`baggage\`?); expected one of \`propagators\`, \`baggage\``,
      );
      // Keys set to undefined pass.
      expect(typeof build({ propagators: undefined, contxt: undefined })()).toBe('function');
    });
  });

  describe('startTracing()', () => {
    it.each<[string, object, string]>([
      [
        'a misspelt option, with the suggestion',
        { serviceName: 's', resourceAttributs: { 'deployment.environment.name': 'prod' } },
        `@koa-mesh/tracing: unknown option \`resourceAttributs\` (did you mean \`resourceAttributes\`?); expected one of ${SDK}`,
      ],
      [
        'an option in the wrong case, which exported nowhere',
        { serviceName: 's', endPoint: 'http://collector:4318/v1/traces' },
        `@koa-mesh/tracing: unknown option \`endPoint\` (did you mean \`endpoint\`?); expected one of ${SDK}`,
      ],
      [
        'an option with no near name',
        { serviceName: 's', spanProcessors: [] },
        `@koa-mesh/tracing: unknown option \`spanProcessors\`; expected one of ${SDK}`,
      ],
    ])('rejects %s before registering anything', async (_name, options, message) => {
      const start = startTracing(options as StartTracingOptions);
      await expect(start).rejects.toThrow(TypeError);
      await expect(start).rejects.toThrow(message);
      expect(trace.getTracerProvider().getTracer('t').startSpan('x').isRecording()).toBe(false);
    });

    it('does not check resourceAttributes or headers, and ignores unknown keys set to undefined', async () => {
      const sdk = await startTracing({
        serviceName: 'users',
        serviceVersion: undefined,
        exporter: 'memory',
        // Attribute and header names are the user's: they look nothing like the options.
        resourceAttributes: { 'deployment.environment.name': 'prod', serviceNme: 'x' },
        headers: { 'x-api-key': 'k', endpiont: 'y' },
        endPoint: undefined,
      } as StartTracingOptions);
      try {
        trace.getTracer('t').startSpan('s').end();
        const [span] = sdk.memory!.getFinishedSpans();
        expect(span!.resource.attributes).toMatchObject({
          'service.name': 'users',
          'deployment.environment.name': 'prod',
          serviceNme: 'x',
        });
        expect(propagation.fields()).toContain('traceparent');
      } finally {
        await sdk.shutdown();
      }
      await expect(
        startTracing({ serviceName: 'users', endPoint: 'http://c' } as StartTracingOptions),
      ).rejects.toThrow('@koa-mesh/tracing: unknown option `endPoint`');
    });
  });
});
