import request from 'supertest';
import { loadUsersConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createUsersService, type UsersService } from '../src/users-service.js';

export const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
export const TESS = { email: 'tess@example.com', password: 'tess-password-1' };
export const ADA = { email: 'ada@example.com', password: 'ada-password-1' };

const made: UsersService[] = [];

/**
 * A users service built from `env` (plus test defaults), not listening: use
 * `service.app.callback()`. Marked ready, as `start()` would. Free it with `stopServices()`.
 */
export async function makeService(env: Record<string, string> = {}): Promise<UsersService> {
  const config = loadUsersConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HEALTH_CHECK_INTERVAL_MS: '200',
    ...env,
  });
  const service = await createUsersService(config, createLogger('silent'));
  service.health.markReady();
  made.push(service);
  return service;
}

/** Stops every service `makeService` built (their check loops, clients and pools). */
export async function stopServices(): Promise<void> {
  await Promise.all(made.splice(0).map((s) => s.stop()));
}

export interface Session {
  token: string;
  id: string;
  auth: { Authorization: string };
}

/** Logs in through the API and returns the token and the user id. */
export async function login(
  target: Parameters<typeof request>[0],
  who: { email: string; password: string },
): Promise<Session> {
  const res = await request(target).post('/auth/login').send(who).expect(200);
  const body = res.body as { accessToken: string; user: { id: string } };
  return {
    token: body.accessToken,
    id: body.user.id,
    auth: { Authorization: `Bearer ${body.accessToken}` },
  };
}
