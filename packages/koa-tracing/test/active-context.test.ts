import {
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { spanContextFactory } from '../src/active-context.js';

const KEY = createContextKey('test key');
const OTHER = createContextKey('other key');

function span(spanId: string): Span {
  return trace.wrapSpanContext({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId,
    traceFlags: 1,
  });
}

/** What a reader of the context sees: the span, the test key, the baggage. */
function view(ctx: Context): unknown[] {
  return [
    trace.getSpan(ctx),
    ctx.getValue(KEY),
    ctx.getValue(OTHER),
    propagation.getBaggage(ctx)?.getEntry('tenant')?.value,
  ];
}

describe('spanContextFactory', () => {
  const setSpan = spanContextFactory();
  const parent = propagation
    .setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }))
    .setValue(KEY, 'from parent');
  const s = span('00f067aa0ba902b7');

  it('gives what trace.setSpan gives, for reads', () => {
    expect(view(setSpan(parent, s))).toEqual(view(trace.setSpan(parent, s)));
    expect(view(setSpan(parent, s))).toEqual([s, 'from parent', undefined, 'acme']);
  });

  it('replaces a span the parent already had', () => {
    const inner = span('b7ad6b7169203331');
    expect(trace.getSpan(setSpan(trace.setSpan(parent, s), inner))).toBe(inner);
  });

  it('writes and deletes like trace.setSpan, keeping the span and the parent untouched', () => {
    const ctx = setSpan(parent, s);
    const written = ctx.setValue(OTHER, 42).setValue(KEY, 'overridden');
    expect(view(written)).toEqual([s, 'overridden', 42, 'acme']);
    expect(view(ctx.deleteValue(KEY))).toEqual([s, undefined, undefined, 'acme']);
    expect(trace.getSpan(trace.deleteSpan(ctx))).toBeUndefined();
    expect(view(ctx)).toEqual([s, 'from parent', undefined, 'acme']);
    expect(view(parent)).toEqual([undefined, 'from parent', undefined, 'acme']);
  });

  it('holds a span for context.with', async () => {
    const { context } = await import('@opentelemetry/api');
    const ctx = setSpan(ROOT_CONTEXT, s);
    // Without a context manager `with` only calls the function; the value it returns is the point.
    expect(context.with(ctx, () => 'ran')).toBe('ran');
    expect(trace.getSpanContext(ctx)?.spanId).toBe('00f067aa0ba902b7');
  });
});
