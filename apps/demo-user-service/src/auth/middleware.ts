import type { Context, Middleware, Next } from 'koa';
import { ForbiddenError, UnauthorizedError } from '../http/errors.js';
import type { Role } from '../users/model.js';
import type { Principal, TokenService } from './jwt.js';

declare module 'koa' {
  interface DefaultState {
    /** The verified bearer, set by `authenticate` when the request carried a valid token. */
    user?: Principal;
    /** Why the request's token was refused; thrown by `requireAuth`. */
    authError?: UnauthorizedError;
  }
}

/**
 * Verifies a bearer token when one is present and records the outcome on `ctx.state`, without
 * refusing anything yet: the rate limiter, mounted after it, keys authenticated requests by user
 * id and everything else by client IP (so bad tokens are limited too).
 */
export function authenticate(tokens: TokenService): Middleware {
  return async function authenticateBearer(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('Authorization');
    if (header !== '') {
      const match = /^Bearer +([^\s]+) *$/i.exec(header);
      if (!match) {
        ctx.state.authError = new UnauthorizedError(
          'expected `Authorization: Bearer <token>`',
          'invalid_request',
        );
      } else {
        try {
          ctx.state.user = tokens.verify(match[1]!);
        } catch (err) {
          ctx.state.authError = err as UnauthorizedError;
        }
      }
    }
    await next();
  };
}

/** Refuses requests without a valid token (401 problem+json). */
export function requireAuth(): Middleware {
  return async function requireBearer(ctx: Context, next: Next): Promise<void> {
    if (ctx.state.authError) throw ctx.state.authError;
    if (!ctx.state.user) throw new UnauthorizedError('authentication required', null);
    await next();
  };
}

/** Throws 403 unless the caller holds `role`. */
export function assertRole(ctx: Context, role: Role): void {
  if (!ctx.state.user?.roles.includes(role)) throw new ForbiddenError(`requires the ${role} role`);
}

/** Throws 403 unless the caller is the user `id` or an admin. */
export function assertSelfOrAdmin(ctx: Context, id: string): void {
  const user = ctx.state.user;
  if (!user || (user.id !== id && !user.roles.includes('admin'))) {
    throw new ForbiddenError('only the user or an admin may do this');
  }
}
