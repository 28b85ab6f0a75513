import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'FLAG_RANDOM',
        'FLAG_SAMPLED',
        'MeshPropagator',
        'PROPAGATION_FORMATS',
        'TRACING_ATTRIBUTES',
        'W3CTraceState',
        'defaultRoute',
        'extractTraceContext',
        'formatBaggage',
        'formatTraceparent',
        'injectTraceHeaders',
        'isValidRequestId',
        'parseB3Multi',
        'parseB3Single',
        'parseBaggage',
        'parseTraceparent',
        'parseTracestate',
        'parseUberBaggage',
        'parseUberTraceId',
        'startClientSpan',
        'traceContextOf',
        'traceInterceptor',
        'tracing',
        'writeUberBaggage',
      ].sort(),
    );
  });

  it('imports the optional SDK peers from the sdk entry only', () => {
    const src = join(__dirname, '..', 'src');
    const importers = readdirSync(src).filter((f) =>
      /from '@opentelemetry\/(sdk-|resources|exporter-)|import\('@opentelemetry\/(sdk-|resources|exporter-)/.test(
        readFileSync(join(src, f), 'utf8'),
      ),
    );
    expect(importers).toEqual(['sdk.ts']);
  });

  it('keeps the SDK out of the main entry', async () => {
    const sdk = await import('../src/sdk.js');
    expect(Object.keys(sdk).sort()).toEqual([
      'MEMORY_EXPORTER_MAX_SPANS',
      'MemorySpanExporter',
      'startTracing',
    ]);
    expect(Object.keys(api)).not.toContain('startTracing');
  });
});
