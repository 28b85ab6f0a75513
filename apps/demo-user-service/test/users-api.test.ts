import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { ADA, ALICE, login, makeService, stopServices, type Session } from './helpers.js';

afterAll(stopServices);

describe('users API', () => {
  let callback: ReturnType<Awaited<ReturnType<typeof makeService>>['app']['callback']>;
  let alice: Session;
  let ada: Session;
  beforeAll(async () => {
    const service = await makeService({ JWT_SECRET: 'x'.repeat(40) });
    callback = service.app.callback();
    alice = await login(callback, ALICE);
    ada = await login(callback, ADA);
  });

  it('runs the CRUD flow: an admin creates, reads, updates and deletes a user', async () => {
    const created = await request(callback)
      .post('/api/users')
      .set(ada.auth)
      .send({ email: 'Bob@Example.com', name: '  Bob  ', password: 'bob-password-123' })
      .expect(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: 'bob@example.com',
      name: 'Bob',
      roles: ['user'],
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(created.headers.location).toBe(`/api/users/${created.body.id}`);
    const id = created.body.id as string;

    // The new user can log in with the password the admin set.
    const bob = await login(callback, { email: 'bob@example.com', password: 'bob-password-123' });
    expect(bob.id).toBe(id);

    await request(callback).get(`/api/users/${id}`).set(alice.auth).expect(200, created.body);
    const list = await request(callback)
      .get('/api/users?limit=2&offset=0')
      .set(alice.auth)
      .expect(200);
    expect(list.body).toMatchObject({ total: 4, limit: 2, offset: 0 });
    expect(list.body.items).toHaveLength(2);

    // A user may rename themselves, but not grant themselves roles.
    const renamed = await request(callback)
      .put(`/api/users/${id}`)
      .set(bob.auth)
      .send({ name: 'Robert' })
      .expect(200);
    expect(renamed.body.name).toBe('Robert');
    const escalate = await request(callback)
      .put(`/api/users/${id}`)
      .set(bob.auth)
      .send({ roles: ['admin'] });
    expect(escalate.status).toBe(403);
    expect(escalate.body.code).toBe('ERR_DEMO_FORBIDDEN');
    // Changing one's own password takes the current one; an admin resets without it.
    const noCurrent = await request(callback)
      .put(`/api/users/${id}`)
      .set(bob.auth)
      .send({ password: 'new-bob-password' });
    expect(noCurrent.status).toBe(400);
    expect(noCurrent.body.errors).toEqual([
      { field: 'body.currentPassword', message: 'is required to change your email or password' },
    ]);
    const wrongCurrent = await request(callback)
      .put(`/api/users/${id}`)
      .set(bob.auth)
      .send({ password: 'new-bob-password', currentPassword: 'not-bobs-password' });
    expect(wrongCurrent.status).toBe(403);
    await request(callback)
      .put(`/api/users/${id}`)
      .set(bob.auth)
      .send({ password: 'new-bob-password', currentPassword: 'bob-password-123' })
      .expect(200);
    await login(callback, { email: 'bob@example.com', password: 'new-bob-password' });
    await request(callback)
      .put(`/api/users/${id}`)
      .set(ada.auth)
      .send({ password: 'reset-by-ada-123' })
      .expect(200);
    // Nor change someone else.
    expect(
      (await request(callback).put(`/api/users/${alice.id}`).set(bob.auth).send({ name: 'x' }))
        .status,
    ).toBe(403);

    await request(callback).delete(`/api/users/${id}`).set(alice.auth).expect(403);
    await request(callback).delete(`/api/users/${id}`).set(ada.auth).expect(204);
    const gone = await request(callback).get(`/api/users/${id}`).set(alice.auth).expect(404);
    expect(gone.body).toMatchObject({ code: 'ERR_DEMO_NOT_FOUND', status: 404 });
  });

  it('answers 400 problem+json naming every bad field', async () => {
    const res = await request(callback)
      .post('/api/users')
      .set(ada.auth)
      .send({ email: 'not-an-email', name: '', password: 'short', roles: ['root'], isAdmin: true });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      code: 'ERR_DEMO_VALIDATION',
      type: 'urn:koa-mesh:demo:validation',
    });
    expect(res.body.requestId).toEqual(expect.any(String));
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'body.isAdmin',
      'body.email',
      'body.name',
      'body.password',
      'body.roles',
    ]);
  });

  it('names missing fields, and validates parameters and the query', async () => {
    const missing = await request(callback).post('/api/users').set(ada.auth).send({});
    expect(missing.body.errors).toEqual([
      { field: 'body.email', message: 'is required' },
      { field: 'body.name', message: 'is required' },
      { field: 'body.password', message: 'is required' },
    ]);
    const badId = await request(callback).get('/api/users/42').set(alice.auth).expect(400);
    expect(badId.body.errors).toEqual([{ field: 'params.id', message: 'must be a UUID' }]);
    const badPage = await request(callback)
      .get('/api/users?limit=1000&offset=-1')
      .set(alice.auth)
      .expect(400);
    expect(badPage.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'query.limit',
      'query.offset',
    ]);
    const empty = await request(callback)
      .put(`/api/users/${alice.id}`)
      .set(alice.auth)
      .send({})
      .expect(400);
    expect(empty.body.errors[0].field).toBe('body');
  });

  it('answers 409 for a taken email', async () => {
    const res = await request(callback)
      .post('/api/users')
      .set(ada.auth)
      .send({ email: 'ALICE@example.com', name: 'Another Alice', password: 'another-password' });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('ERR_DEMO_CONFLICT');
  });

  it('never answers 500 to what a client sends', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['/api/users', '{"email":', 'application/json'],
      ['/api/users', '[1,2,3]', 'application/json'],
      ['/api/users', 'null', 'application/json'],
      ['/api/users', '"string"', 'application/json'],
      ['/api/users', 'email=a@b.c', 'application/x-www-form-urlencoded'],
      ['/api/users', '{"email":"a@b.co","name":"n","password":"p".repeat}', 'application/json'],
      ['/api/users', `{"name":"${'x'.repeat(20_000)}"}`, 'application/json'],
      ['/api/users', '{"__proto__":{"admin":true},"constructor":{}}', 'application/json'],
      [
        '/api/users',
        '{"email":{"$ne":null},"name":["x"],"password":12345678901234}',
        'application/json',
      ],
      ['/auth/login', '{"email":"alice@example.com","password":{"length":5}}', 'application/json'],
      ['/auth/login', '', undefined],
    ];
    for (const [path, body, type] of cases) {
      const req = request(callback).post(path).set(ada.auth);
      if (type) req.set('Content-Type', type);
      const res = await req.send(body);
      expect([400, 413, 415]).toContain(res.status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.requestId).toEqual(expect.any(String));
    }
  });

  it('gives malformed JSON and oversized bodies their own codes', async () => {
    const bad = await request(callback)
      .post('/api/users')
      .set(ada.auth)
      .set('Content-Type', 'application/json')
      .send('{"a":');
    expect(bad.body).toMatchObject({
      status: 400,
      code: 'ERR_DEMO_MALFORMED_JSON',
      errors: [{ field: 'body' }],
    });
    const big = await request(callback)
      .post('/api/users')
      .set(ada.auth)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ name: 'x'.repeat(20_000) }));
    expect(big.body).toMatchObject({ status: 413, code: 'ERR_DEMO_BODY_TOO_LARGE' });
  });

  it('answers a body that does not decode with its Content-Encoding with a 400, not a 500', async () => {
    const login = JSON.stringify(ALICE);
    // Raw bytes, as sent: superagent would serialise a Buffer to JSON under a JSON content type
    // (its types say a serializer returns a string; Node's request takes a Buffer as well).
    const raw = ((b: Buffer) => b) as unknown as (obj: unknown) => string;
    const post = (encoding: string, body: Buffer) =>
      request(callback)
        .post('/auth/login')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .serialize(raw)
        .send(body);
    const cases: Array<[string, Buffer]> = [
      ['gzip', Buffer.from(login)], // not gzip at all
      ['gzip', gzipSync(login).subarray(0, 20)], // cut short
      ['deflate', Buffer.from('xx')],
      ['br', Buffer.from(login)],
    ];
    for (const [encoding, body] of cases) {
      const res = await post(encoding, body);
      expect({ encoding, status: res.status, body: res.body }).toMatchObject({
        encoding,
        status: 400,
        body: {
          code: 'ERR_DEMO_MALFORMED_BODY',
          errors: [{ field: 'body' }],
          requestId: expect.any(String),
        },
      });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    // A body that decodes still works.
    const ok = await post('gzip', gzipSync(login));
    expect({ status: ok.status, id: ok.body.user?.id }).toEqual({ status: 200, id: alice.id });
  });

  it('renders unknown routes and methods as problem+json', async () => {
    const notFound = await request(callback).get('/nope').expect(404);
    expect(notFound.body).toMatchObject({
      code: 'ERR_DEMO_NOT_FOUND',
      detail: 'no route for GET /nope',
    });
    const method = await request(callback).patch(`/api/users/${alice.id}`).set(alice.auth);
    expect(method.status).toBe(405);
    expect(method.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(method.headers.allow).toMatch(/PUT/);
  });
});
