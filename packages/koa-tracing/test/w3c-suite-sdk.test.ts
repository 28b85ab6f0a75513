// The W3C rules again with an OpenTelemetry SDK registered globally: the recording path (and the
// SDK's own span ids and flags) must propagate just as correctly.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { w3cRules } from './fixtures/w3c-rules.js';

const exporter = new InMemorySpanExporter();

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
});

afterAll(() => {
  trace.disable();
  context.disable();
});

w3cRules({ sdk: true });

it('recorded the sampled requests of the suite', () => {
  expect(exporter.getFinishedSpans().length).toBeGreaterThan(10);
});
