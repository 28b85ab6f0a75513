// Every option is validated once, at construction, with a message naming the option.
import { tracing, type TracingOptions } from '../src/index.js';

const cases: Array<[string, unknown, string]> = [
  ['options', 'nope', 'expected `options` to be an object, got "nope"'],
  [
    'tracerProvider',
    { tracerProvider: {} },
    'expected `tracerProvider` to be a TracerProvider (an object with getTracer()), got an object',
  ],
  ['tracerName', { tracerName: '' }, 'expected `tracerName` to be a non-empty string, got ""'],
  [
    'propagators (empty)',
    { propagators: [] },
    "expected `propagators` to be a non-empty array of distinct formats among 'tracecontext', 'b3', 'b3multi', 'jaeger', got an array",
  ],
  [
    'propagators (unknown)',
    { propagators: ['xray'] },
    'expected `propagators` to be a non-empty array',
  ],
  [
    'propagators (repeated)',
    { propagators: ['b3', 'b3'] },
    'expected `propagators` to be a non-empty array',
  ],
  [
    'propagators (not an array)',
    { propagators: 'b3' },
    'expected `propagators` to be a non-empty array of distinct formats among',
  ],
  [
    'baggage',
    { baggage: 'all' },
    'expected `baggage` to be a boolean, an array of keys or a function, got "all"',
  ],
  [
    'baggage (array of non-strings)',
    { baggage: [1] },
    'expected `baggage` to be a boolean, an array of keys or a function, got an array',
  ],
  [
    'requestIdHeader',
    { requestIdHeader: 'bad header' },
    'expected `requestIdHeader` to be a header name or false, got "bad header"',
  ],
  [
    'requestIdHeader (true)',
    { requestIdHeader: true },
    'expected `requestIdHeader` to be a header name or false, got true',
  ],
  [
    'generateRequestId',
    { generateRequestId: 'uuid' },
    'expected `generateRequestId` to be a function, got "uuid"',
  ],
  ['serverTiming', { serverTiming: 1 }, 'expected `serverTiming` to be a boolean, got 1'],
  [
    'restartAtEdge',
    { restartAtEdge: 'yes' },
    'expected `restartAtEdge` to be a boolean or a function, got "yes"',
  ],
  [
    'ignore',
    { ignore: '/health' },
    'expected `ignore` to be an array of paths and regular expressions, or a function, got "/health"',
  ],
  [
    'ignore (bad member)',
    { ignore: [42] },
    'expected `ignore` to be an array of paths and regular expressions, or a function, got an array',
  ],
  ['route', { route: '/x' }, 'expected `route` to be a function, got "/x"'],
];

describe('option validation', () => {
  it.each(cases)('rejects a bad %s', (_name, options, message) => {
    expect(() => tracing(options as TracingOptions)).toThrow(TypeError);
    expect(() => tracing(options as TracingOptions)).toThrow(`@koa-mesh/tracing: ${message}`);
  });

  it('accepts no options at all and every valid form', () => {
    expect(() => tracing()).not.toThrow();
    expect(() =>
      tracing({
        tracerName: 'svc',
        propagators: ['b3', 'tracecontext', 'jaeger', 'b3multi'],
        baggage: ['tenant'],
        requestIdHeader: false,
        generateRequestId: () => 'x',
        serverTiming: true,
        restartAtEdge: () => false,
        ignore: ['/health', /^\/metrics/g],
        route: () => undefined,
      }),
    ).not.toThrow();
    expect(() =>
      tracing({ baggage: (k) => k.startsWith('x-'), restartAtEdge: true, ignore: () => false }),
    ).not.toThrow();
  });

  it('returns a named middleware', () => {
    expect(tracing().name).toBe('tracingMiddleware');
  });
});
