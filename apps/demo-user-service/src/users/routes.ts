import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { PasswordHasher } from '../auth/password.js';
import { assertRole, assertSelfOrAdmin, requireAuth } from '../auth/middleware.js';
import type { TokenService } from '../auth/jwt.js';
import {
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../http/errors.js';
import { toPublicUser } from './model.js';
import type { UserRepository } from './repository.js';
import { parseCreateUser, parseId, parseLogin, parsePage, parseUpdateUser } from './validation.js';

export interface ApiDeps {
  users: UserRepository;
  tokens: TokenService;
  /** Hashes and checks passwords, a bounded number at a time. */
  passwords: PasswordHasher;
  /**
   * Answers `GET /api/users/:id/orders` once the caller is known to be allowed; `ctx.params.id`
   * is the validated user id.
   */
  orders: Middleware;
}

/** Bodies are JSON or nothing: anything else is a 415 before the parser is asked. */
function requireJson(): Middleware {
  return async function requireJsonBody(ctx: Context, next: Next): Promise<void> {
    if (!ctx.is('application/json')) throw new UnsupportedMediaTypeError();
    await next();
  };
}

/** The login route and the users API. */
export function apiRouter({ users, tokens, passwords, orders }: ApiDeps): Router {
  const router = new Router();
  // A hash to compare against when the email is unknown, so that login takes as long for a
  // missing account as for a wrong password (no account enumeration by timing).
  // Computed once per router, up front, so the first unknown login is not slower than the rest.
  const decoyHash = passwords.hash(randomUUID());

  router.post('/auth/login', requireJson(), async function login(ctx: Context) {
    const input = parseLogin(ctx.request.body);
    const user = await users.findByEmail(input.email);
    const ok = await passwords.verify(input.password, user?.passwordHash ?? (await decoyHash));
    if (!user || !ok) throw new UnauthorizedError('wrong email or password', null);
    const { token, expiresIn } = tokens.issue(user);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { accessToken: token, tokenType: 'Bearer', expiresIn, user: toPublicUser(user) };
  });

  // requireAuth goes on each route rather than `api.use()`, so that even a 401 is recorded under
  // its route template (a router-level middleware would leave @koa/router's prefix regexp).
  const api = new Router({ prefix: '/api/users' });
  const auth = requireAuth();

  api.get('/', auth, async function listUsers(ctx: Context) {
    const page = parsePage(ctx.query);
    const { items, total } = await users.list(page);
    ctx.body = { items: items.map(toPublicUser), total, limit: page.limit, offset: page.offset };
  });

  api.get('/:id', auth, async function getUser(ctx: Context) {
    const user = await users.get(parseId(ctx.params.id));
    if (!user) throw new NotFoundError('no such user');
    ctx.body = toPublicUser(user);
  });

  api.post('/', auth, requireJson(), async function createUser(ctx: Context) {
    assertRole(ctx, 'admin');
    const input = parseCreateUser(ctx.request.body);
    const user = await users.create({
      email: input.email,
      name: input.name,
      roles: input.roles,
      passwordHash: await passwords.hash(input.password),
    });
    ctx.status = 201;
    ctx.set('Location', `/api/users/${user.id}`);
    ctx.body = toPublicUser(user);
  });

  api.put('/:id', auth, requireJson(), async function updateUser(ctx: Context) {
    const id = parseId(ctx.params.id);
    assertSelfOrAdmin(ctx, id);
    const input = parseUpdateUser(ctx.request.body);
    if (input.roles !== undefined) assertRole(ctx, 'admin');
    const isAdmin = ctx.state.user?.roles.includes('admin') === true;
    if (!isAdmin && (input.email !== undefined || input.password !== undefined)) {
      // A stolen token alone must not be enough to take the account over.
      if (input.currentPassword === undefined) {
        throw new ValidationError([
          {
            field: 'body.currentPassword',
            message: 'is required to change your email or password',
          },
        ]);
      }
      const current = await users.get(id);
      if (!current) throw new NotFoundError('no such user');
      if (!(await passwords.verify(input.currentPassword, current.passwordHash))) {
        throw new ForbiddenError('the current password is wrong');
      }
    }
    const user = await users.update(id, {
      ...(input.email !== undefined ? { email: input.email } : {}),
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.roles !== undefined ? { roles: input.roles } : {}),
      ...(input.password !== undefined
        ? { passwordHash: await passwords.hash(input.password) }
        : {}),
    });
    if (!user) throw new NotFoundError('no such user');
    ctx.body = toPublicUser(user);
  });

  api.delete('/:id', auth, async function deleteUser(ctx: Context) {
    assertRole(ctx, 'admin');
    if (!(await users.delete(parseId(ctx.params.id)))) throw new NotFoundError('no such user');
    ctx.status = 204;
  });

  api.get(
    '/:id/orders',
    auth,
    async function authorizeOrders(ctx: Context, next: Next) {
      const id = parseId(ctx.params.id);
      assertSelfOrAdmin(ctx, id);
      if (!(await users.get(id))) throw new NotFoundError('no such user');
      ctx.params.id = id;
      await next();
    },
    orders,
  );

  router.use(api.routes(), api.allowedMethods());
  return router;
}
