// MeshPropagator through @opentelemetry/api's propagation API, as koa-discovery and
// koa-canary-router use it once it is registered.
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import { MeshPropagator } from '../src/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('MeshPropagator', () => {
  it('extracts a remote parent and baggage, and injects them back', () => {
    const p = new MeshPropagator();
    const ctx = p.extract(
      ROOT_CONTEXT,
      { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1', baggage: 'k=v%201' },
      defaultTextMapGetter,
    );
    const sc = trace.getSpanContext(ctx)!;
    expect(sc).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: 1, isRemote: true });
    expect(propagation.getBaggage(ctx)?.getEntry('k')?.value).toBe('v 1');
    const out: Record<string, string> = {};
    p.inject(ctx, out, defaultTextMapSetter);
    expect(out).toEqual({
      traceparent: `00-${TRACE}-${SPAN}-01`,
      tracestate: 'a=1',
      baggage: 'k=v%201',
    });
  });

  it('carries Jaeger uberctx-* baggage both ways when jaeger is a format', () => {
    const p = new MeshPropagator({ propagators: ['jaeger'] });
    const carrier = {
      'uber-trace-id': `${TRACE}:${SPAN}:0:1`,
      'uberctx-user': 'alice%20b',
      'uberctx-team': 'x',
      baggage: 'team=y',
      'x-other': 'z',
    };
    const ctx = p.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    const bag = propagation.getBaggage(ctx)!;
    expect(bag.getEntry('user')?.value).toBe('alice b');
    expect(bag.getEntry('team')?.value).toBe('y');
    expect(bag.getAllEntries()).toHaveLength(2);
    const out: Record<string, string> = {};
    p.inject(ctx, out, defaultTextMapSetter);
    expect(out).toMatchObject({
      'uberctx-user': 'alice%20b',
      'uberctx-team': 'y',
      baggage: 'user=alice%20b,team=y',
    });
    // A tracecontext-only propagator neither reads nor writes uberctx-*.
    const w3c = new MeshPropagator();
    expect(
      propagation
        .getBaggage(w3c.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter))
        ?.getAllEntries(),
    ).toEqual([['team', { value: 'y' }]]);
    const out2: Record<string, string> = {};
    w3c.inject(ctx, out2, defaultTextMapSetter);
    expect(Object.keys(out2).filter((k) => k.startsWith('uberctx-'))).toEqual([]);
  });

  it('uses its formats in precedence order for both directions', () => {
    const p = new MeshPropagator({ propagators: ['jaeger', 'b3'], baggage: false });
    const ctx = p.extract(
      ROOT_CONTEXT,
      {
        'uber-trace-id': `${TRACE}:${SPAN}:0:1`,
        b3: `${'1'.repeat(32)}-${SPAN}-1`,
        baggage: 'k=v',
      },
      defaultTextMapGetter,
    );
    expect(trace.getSpanContext(ctx)?.traceId).toBe(TRACE);
    expect(propagation.getBaggage(ctx)).toBeUndefined();
    const out: Record<string, string> = {};
    p.inject(ctx, out, defaultTextMapSetter);
    expect(out).toEqual({ 'uber-trace-id': `${TRACE}:${SPAN}:0:1`, b3: `${TRACE}-${SPAN}-1` });
    expect(p.fields()).toEqual([
      'uber-trace-id',
      'b3',
      'x-b3-traceid',
      'x-b3-spanid',
      'x-b3-sampled',
      'x-b3-flags',
    ]);
  });

  it('leaves the context alone when nothing valid is there', () => {
    const p = new MeshPropagator();
    const ctx = p.extract(ROOT_CONTEXT, { traceparent: 'garbage' }, defaultTextMapGetter);
    expect(trace.getSpanContext(ctx)).toBeUndefined();
    const out: Record<string, string> = {};
    p.inject(ROOT_CONTEXT, out, defaultTextMapSetter);
    expect(out).toEqual({});
  });

  it('rejects unknown formats at construction', () => {
    expect(() => new MeshPropagator({ propagators: ['xray' as never] })).toThrow(
      /@koa-mesh\/tracing: expected `propagators`/,
    );
  });
});
