import { toProblem } from '../src/http/problem.js';
import { InMemoryUserRepository } from '../src/users/repository.js';

describe('the in-memory user repository', () => {
  it('refuses a user past maxUsers with an exposed 507 the client can act on', async () => {
    const repo = new InMemoryUserRepository(1);
    const user = { name: 'A', roles: ['user' as const], passwordHash: 'h' };
    await repo.create({ ...user, email: 'a@example.com' });
    const err: unknown = await repo.create({ ...user, email: 'b@example.com' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 507, expose: true, code: 'ERR_DEMO_STORAGE_FULL' });
    expect(toProblem(err, 'req-1')).toMatchObject({
      status: 507,
      code: 'ERR_DEMO_STORAGE_FULL',
      detail: 'the demo store is full',
    });
  });
});
