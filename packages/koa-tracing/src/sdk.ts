import {
  context,
  propagation,
  ProxyTracerProvider,
  trace,
  type Attributes,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { PROPAGATION_FORMATS, type PropagationFormat } from './extract.js';
import { MeshPropagator } from './propagator.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];

/** How many finished spans {@link MemorySpanExporter} keeps by default. */
export const MEMORY_EXPORTER_MAX_SPANS = 10_000;

/**
 * An in-memory span exporter that keeps only the most recent `maxSpans` finished spans, for
 * reading spans in tests and on a developer's machine. `startTracing`'s default exporter when no
 * OTLP endpoint is configured: unlike the SDK's `InMemorySpanExporter`, it cannot grow a
 * long-running service's memory without end when that default reaches production.
 */
export class MemorySpanExporter implements SpanExporter {
  readonly maxSpans: number;
  #spans: ReadableSpan[] = [];
  #stopped = false;

  constructor(maxSpans = MEMORY_EXPORTER_MAX_SPANS) {
    if (!Number.isSafeInteger(maxSpans) || maxSpans < 1) {
      throw new TypeError(
        `@koa-mesh/tracing/sdk: expected \`maxSpans\` to be a positive integer, got ${String(maxSpans)}`,
      );
    }
    this.maxSpans = maxSpans;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.#stopped) {
      done({ code: 1, error: new Error('@koa-mesh/tracing/sdk: the exporter is shut down') });
      return;
    }
    for (const span of spans) this.#spans.push(span);
    // Trimmed in batches (at twice the bound), so a full exporter does not shift every span.
    if (this.#spans.length >= 2 * this.maxSpans) this.#spans = this.#spans.slice(-this.maxSpans);
    done({ code: 0 });
  }

  /** The finished spans, oldest first: at most the last `maxSpans`. */
  getFinishedSpans(): ReadableSpan[] {
    return this.#spans.length > this.maxSpans ? this.#spans.slice(-this.maxSpans) : this.#spans;
  }

  /** Forgets every span kept so far. */
  reset(): void {
    this.#spans = [];
  }

  shutdown(): Promise<void> {
    this.#stopped = true;
    this.#spans = [];
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@link startTracing}. */
export interface StartTracingOptions {
  /** `service.name` of every span. */
  serviceName: string;
  /** `service.version`, when given. */
  serviceVersion?: string;
  /** More resource attributes (e.g. `deployment.environment.name`). */
  resourceAttributes?: Attributes;
  /**
   * Where spans go: a `SpanExporter` of your own, `'otlp'` (OTLP over HTTP, needs
   * `@opentelemetry/exporter-trace-otlp-http`), `'console'` or `'memory'`.
   * @default 'otlp' when `endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT` /
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, `'memory'` otherwise
   */
  exporter?: SpanExporter | 'otlp' | 'console' | 'memory';
  /** OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`. @default from the environment */
  endpoint?: string;
  /** Extra OTLP request headers (e.g. an API key). */
  headers?: Record<string, string>;
  /** Sampler handed to the SDK as is. @default ParentBased(AlwaysOn), the SDK's default */
  sampler?: Sampler;
  /** Formats the global propagator reads and writes. @default ['tracecontext'] */
  propagators?: readonly PropagationFormat[];
}

/** A started SDK. */
export interface TracingSdk {
  readonly provider: NodeTracerProvider;
  readonly exporter: SpanExporter;
  /** The in-memory exporter when `exporter` is `'memory'`, to read finished spans. */
  readonly memory: MemorySpanExporter | undefined;
  /** Exports every finished span now. */
  forceFlush(): Promise<void>;
  /** Flushes, shuts the SDK down and unregisters the globals it set, so it can start again. */
  shutdown(): Promise<void>;
}

const PKG = '@koa-mesh/tracing/sdk';

const START_TRACING_OPTIONS = optionNames<StartTracingOptions>({
  serviceName: true,
  serviceVersion: true,
  resourceAttributes: true,
  exporter: true,
  endpoint: true,
  headers: true,
  sampler: true,
  propagators: true,
});

function fail(option: string, expected: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got;
  throw new TypeError(`${PKG}: expected \`${option}\` to be ${expected}, got ${shown}`);
}

async function otlpExporter(
  endpoint: string | undefined,
  headers: Record<string, string> | undefined,
): Promise<SpanExporter> {
  let mod: {
    OTLPTraceExporter: new (config?: {
      url?: string;
      headers?: Record<string, string>;
    }) => SpanExporter;
  };
  try {
    mod = await import('@opentelemetry/exporter-trace-otlp-http');
  } catch (err) {
    throw new Error(
      `${PKG}: the OTLP exporter needs the optional peer @opentelemetry/exporter-trace-otlp-http (>=0.200 <0.300); install it or pass another exporter`,
      { cause: err },
    );
  }
  const config: { url?: string; headers?: Record<string, string> } = {};
  if (endpoint !== undefined) config.url = endpoint;
  if (headers !== undefined) config.headers = headers;
  return new mod.OTLPTraceExporter(config);
}

/**
 * Starts an OpenTelemetry SDK for a service in one call and registers it globally (tracer
 * provider, AsyncLocalStorage context manager, and a {@link MeshPropagator} so every
 * `propagation.inject()` writes the same headers as the middleware). Spans go through a
 * `BatchSpanProcessor` (a `SimpleSpanProcessor` for `'memory'`). Throws when another tracer
 * provider is already registered.
 *
 * @example
 * ```ts
 * import { startTracing } from '@koa-mesh/tracing/sdk';
 * const sdk = await startTracing({ serviceName: 'users', endpoint: 'http://collector:4318/v1/traces' });
 * process.on('SIGTERM', () => void sdk.shutdown());
 * ```
 */
export async function startTracing(options: StartTracingOptions): Promise<TracingSdk> {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  // Before anything is built or registered; `resourceAttributes` and `headers` are the user's.
  rejectUnknownKeys('', options, START_TRACING_OPTIONS);
  const { serviceName, serviceVersion, endpoint, headers, sampler } = options;
  if (typeof serviceName !== 'string' || serviceName === '') {
    fail('serviceName', 'a non-empty string', serviceName);
  }
  if (serviceVersion !== undefined && typeof serviceVersion !== 'string') {
    fail('serviceVersion', 'a string', serviceVersion);
  }
  if (endpoint !== undefined) {
    if (typeof endpoint !== 'string' || !URL.canParse(endpoint))
      fail('endpoint', 'a URL', endpoint);
  }
  // Checked here, before anything is built: a sampler the SDK cannot call would otherwise fail
  // every request's span, and bad headers or attributes only surface at the first export.
  if (
    sampler !== undefined &&
    (typeof sampler !== 'object' ||
      sampler === null ||
      typeof (sampler as { shouldSample?: unknown }).shouldSample !== 'function')
  ) {
    fail('sampler', 'a Sampler (an object with shouldSample())', sampler);
  }
  if (
    headers !== undefined &&
    (typeof headers !== 'object' ||
      headers === null ||
      Array.isArray(headers) ||
      !Object.values(headers).every((v) => typeof v === 'string'))
  ) {
    fail('headers', 'an object of string values', headers);
  }
  const { resourceAttributes, propagators } = options;
  if (
    resourceAttributes !== undefined &&
    (typeof resourceAttributes !== 'object' ||
      resourceAttributes === null ||
      Array.isArray(resourceAttributes))
  ) {
    fail('resourceAttributes', 'an object', resourceAttributes);
  }
  if (
    propagators !== undefined &&
    (!Array.isArray(propagators) ||
      propagators.length === 0 ||
      !propagators.every((p) => PROPAGATION_FORMATS.includes(p)) ||
      new Set(propagators).size !== propagators.length)
  ) {
    fail(
      'propagators',
      `a non-empty array of distinct formats among ${PROPAGATION_FORMATS.map((f) => `'${f}'`).join(', ')}`,
      propagators,
    );
  }
  const envEndpoint =
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const choice = options.exporter ?? (endpoint !== undefined || envEndpoint ? 'otlp' : 'memory');
  let exporter: SpanExporter;
  let memory: MemorySpanExporter | undefined;
  if (choice === 'otlp') exporter = await otlpExporter(endpoint, headers);
  else if (choice === 'console') exporter = new ConsoleSpanExporter();
  else if (choice === 'memory') exporter = memory = new MemorySpanExporter();
  else if (typeof choice === 'object' && choice !== null && typeof choice.export === 'function') {
    exporter = choice;
  } else fail('exporter', "a SpanExporter, 'otlp', 'console' or 'memory'", choice);
  const propagator = new MeshPropagator(propagators ? { propagators } : {});

  const attributes: Attributes = { ...resourceAttributes, 'service.name': serviceName };
  if (serviceVersion !== undefined) attributes['service.version'] = serviceVersion;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attributes),
    ...(sampler ? { sampler } : {}),
    spanProcessors: [memory ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  provider.register({ propagator });
  const global = trace.getTracerProvider();
  if (!(global instanceof ProxyTracerProvider) || global.getDelegate() !== provider) {
    await provider.shutdown();
    throw new Error(`${PKG}: another TracerProvider is already registered globally`);
  }

  let stopped: Promise<void> | undefined;
  return {
    provider,
    exporter,
    memory,
    forceFlush: () => provider.forceFlush(),
    shutdown() {
      stopped ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          context.disable();
          propagation.disable();
        }
      })();
      return stopped;
    },
  };
}
