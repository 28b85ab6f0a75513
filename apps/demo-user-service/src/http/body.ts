import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import { HttpError } from './errors.js';

/** The most a JSON body may weigh, once decoded. */
export const JSON_LIMIT = '16kb';

/**
 * `@koa/bodyparser` for JSON bodies only, up to 16 KiB decoded. The parser's own errors (bad
 * JSON, too large, bad charset) carry a 4xx status and are rendered by the problem handler; a body
 * that its `Content-Encoding` cannot decode (not gzip, cut short) fails in zlib with no status,
 * which would be a 500: it is the client's body, so it is a 400.
 */
export function jsonBody(): Middleware {
  return bodyParser({
    enableTypes: ['json'],
    jsonLimit: JSON_LIMIT,
    onError(err) {
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number') throw err;
      throw new MalformedBodyError(err);
    },
  });
}

/** 400: the body could not be read as sent (its content coding does not decode). */
export class MalformedBodyError extends HttpError {
  readonly errors = [{ field: 'body', message: 'does not decode with its Content-Encoding' }];
  constructor(cause: unknown) {
    super(
      'ERR_DEMO_MALFORMED_BODY',
      400,
      'Invalid request',
      'the body could not be decoded with its Content-Encoding',
      { cause },
    );
    this.name = 'MalformedBodyError';
  }
}
