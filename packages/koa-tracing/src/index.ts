export { tracing } from './tracing.js';
export type { TracingState } from './tracing.js';
export { defaultRoute } from './options.js';
export type { TracingOptions } from './options.js';
export { MeshPropagator } from './propagator.js';
export type { MeshPropagatorOptions } from './propagator.js';
export { injectTraceHeaders, traceInterceptor } from './inject.js';
export { traceContextOf } from './koa-context.js';
export { startClientSpan } from './client-span.js';
export type { ClientSpan, ClientSpanOptions } from './client-span.js';
export type { Dispatch, DispatchOptions, HeaderTarget, InjectOptions } from './inject.js';
export { extractTraceContext, PROPAGATION_FORMATS } from './extract.js';
export type { ExtractedContext, HeaderGetter, PropagationFormat } from './extract.js';
export {
  FLAG_RANDOM,
  FLAG_SAMPLED,
  formatTraceparent,
  parseTraceparent,
} from './traceparent.js';
export type { ParsedTraceContext } from './traceparent.js';
export { parseTracestate, W3CTraceState } from './tracestate.js';
export { formatBaggage, parseBaggage } from './baggage.js';
export type { BaggageMember } from './baggage.js';
export { parseB3Multi, parseB3Single } from './b3.js';
export type { B3MultiHeaders } from './b3.js';
export { parseUberTraceId } from './jaeger.js';
export { isValidRequestId } from './request-id.js';
export { ATTR as TRACING_ATTRIBUTES } from './http-attributes.js';
