import type { CommonConfig } from '../config.js';
import type { Logger } from '../logger.js';

/** What the service keeps of a started OpenTelemetry SDK. */
export interface StartedSdk {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK with an OTLP/HTTP exporter when an endpoint is configured (Jaeger
 * in the compose set-up). Without one, nothing is started: @koa-mesh/tracing still continues and
 * propagates trace context and sets the ids, it just records no spans.
 */
export async function startTracingSdk(
  config: CommonConfig,
  serviceVersion: string,
  logger: Logger,
): Promise<StartedSdk | undefined> {
  if (config.otlpEndpoint === undefined) return undefined;
  const { startTracing } = await import('@koa-mesh/tracing/sdk');
  const sdk = await startTracing({
    serviceName: config.serviceName,
    serviceVersion,
    exporter: 'otlp',
    endpoint: config.otlpEndpoint,
    resourceAttributes: { 'deployment.environment.name': config.env },
  });
  logger.info('exporting traces over OTLP', { endpoint: config.otlpEndpoint });
  return sdk;
}
