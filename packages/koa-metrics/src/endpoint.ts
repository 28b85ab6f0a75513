import { MetricsError } from './errors.js';
import {
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
  type ExpositionFormat,
} from './exposition.js';
import { negotiateFormat } from './negotiate.js';
import type { MetricsContext, NormalizedOptions } from './options.js';

function answerProblem(ctx: MetricsContext, err: MetricsError): void {
  ctx.status = err.status;
  for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
  ctx.set('Content-Type', 'application/problem+json');
  ctx.body = JSON.stringify(err.toProblem(ctx.state?.requestId));
}

/**
 * Builds the handler of the exposition path on the application's port: GET/HEAD only (405
 * problem+json otherwise), `authorize` (403 when it denies or throws), format negotiation.
 */
export function createEndpoint(
  o: Pick<NormalizedOptions, 'path' | 'authorize'>,
  expose: (format: ExpositionFormat, emit: (err: unknown) => void) => Promise<string>,
): (ctx: MetricsContext) => Promise<void> {
  return async function serveMetrics(ctx) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      return answerProblem(
        ctx,
        new MetricsError(
          'ERR_KOA_MESH_METRICS_METHOD_NOT_ALLOWED',
          `${o.path} answers GET and HEAD only`,
          {
            Allow: 'GET, HEAD',
          },
        ),
      );
    }
    if (o.authorize) {
      let allowed = false;
      try {
        allowed = (await o.authorize(ctx)) === true;
      } catch (err) {
        ctx.app?.emit?.('error', err, ctx);
      }
      if (!allowed)
        return answerProblem(
          ctx,
          new MetricsError('ERR_KOA_MESH_METRICS_FORBIDDEN', 'not allowed to read metrics'),
        );
    }
    const format = negotiateFormat(ctx.get('accept') || undefined);
    const text = await expose(format, (err) => ctx.app?.emit?.('error', err, ctx));
    ctx.status = 200;
    ctx.set(
      'Content-Type',
      format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.vary('Accept');
    ctx.body = text;
  };
}
