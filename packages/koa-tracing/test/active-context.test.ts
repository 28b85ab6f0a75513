import {
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { LocalSpan, localSpansWork, spanContextFactory } from '../src/active-context.js';

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

describe('LocalSpan (span, span context and active context in one object)', () => {
  const parent = propagation
    .setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }))
    .setValue(KEY, 'from parent');
  const traceState = trace
    .wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    })
    .spanContext().traceState;
  const local = new LocalSpan(
    parent,
    '4bf92f3577b34da6a3ce929d0e0e4736',
    'b7ad6b7169203331',
    3,
    traceState,
  );

  it('is usable with this copy of @opentelemetry/api', () => {
    expect(localSpansWork()).toBe(true);
  });

  it('reads as the parent with a non-recording span set, as trace.setSpan would give', () => {
    expect(trace.getSpan(local)).toBe(local);
    expect(trace.getSpanContext(local)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: 'b7ad6b7169203331',
      traceFlags: 3,
      traceState,
    });
    expect(trace.isSpanContextValid(local.spanContext())).toBe(true);
    expect(local.isRecording()).toBe(false);
    expect(view(local)).toEqual([local, 'from parent', undefined, 'acme']);
  });

  it("ignores span operations, as the API's NonRecordingSpan does", () => {
    expect(local.setAttribute('a', 1).setAttributes({ b: 2 }).addEvent('e').updateName('n')).toBe(
      local,
    );
    expect(local.setStatus({ code: 2 }).addLink({ context: local }).addLinks([])).toBe(local);
    expect(local.end()).toBeUndefined();
    expect(local.recordException(new Error('x'))).toBeUndefined();
  });

  it('writes and deletes into new contexts that keep the span, leaving itself and the parent untouched', () => {
    const written = local.setValue(OTHER, 42).setValue(KEY, 'overridden');
    expect(view(written)).toEqual([local, 'overridden', 42, 'acme']);
    expect(view(local.deleteValue(KEY))).toEqual([local, undefined, undefined, 'acme']);
    expect(trace.getSpan(trace.deleteSpan(local))).toBeUndefined();
    expect(view(local)).toEqual([local, 'from parent', undefined, 'acme']);
    expect(view(parent)).toEqual([undefined, 'from parent', undefined, 'acme']);
  });

  it('can have a child span set over it, which then reads first', () => {
    const child = trace.setSpan(local, span('0123456789abcdef'));
    expect(trace.getSpan(child)?.spanContext().spanId).toBe('0123456789abcdef');
    expect(trace.getSpan(trace.deleteSpan(child))).toBeUndefined();
    expect(child.getValue(KEY)).toBe('from parent');
  });
});
