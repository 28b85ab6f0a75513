import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters (OWASP's minimum for scrypt: N=2^17 r=8 p=1; the demo uses 2^14 to start fast). */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 14, r: 8, p: 1 });
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 128 * params.N * params.r * 2,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Hashes `password` into a self-describing string: `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Checks `password` against a hash from `hashPassword`, in constant time. False on a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16)
    return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_LENGTH) return false;
  const actual = await derive(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}

/** Password hashing for a service, with the number of scrypt derivations run at once bounded. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, encoded: string): Promise<boolean>;
  /** Derivations running now, and waiting for a turn. */
  stats(): { running: number; queued: number };
}

/**
 * scrypt runs on libuv's thread pool (`UV_THREADPOOL_SIZE`, 4 by default), whose one FIFO queue
 * also holds every `dns.lookup` (each new connection to a host name: Redis, Consul, the orders
 * service), zlib (compressed bodies) and fs. A burst of logins, unbounded, filled the queue: with
 * 200 at once a lookup waited 1.6 s and the orders call behind it timed out. Here at most
 * `concurrency` derivations (half the pool by default) are handed to libuv; the rest wait their
 * turn in this queue, so the other threads stay free. On a CPU-bound pool of this size, throughput
 * is the same.
 */
export function createPasswordHasher(
  concurrency = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2)),
): PasswordHasher {
  let running = 0;
  const waiting: Array<() => void> = [];
  const gated = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line, or free it.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
  return {
    hash: (password) => gated(() => hashPassword(password)),
    verify: (password, encoded) => gated(() => verifyPassword(password, encoded)),
    stats: () => ({ running, queued: waiting.length }),
  };
}
