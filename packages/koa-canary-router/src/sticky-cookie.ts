import type { Context } from 'koa';
import {
  DEFAULTS,
  checkToken,
  isPlainObject,
  optionError,
  positiveInt,
  type CookieOptions,
} from './options.js';

interface SetOptions {
  signed: boolean;
  maxAge: number;
  path: string;
  domain: string | undefined;
  sameSite: 'strict' | 'lax' | 'none';
  secure: boolean;
  httpOnly: true;
  overwrite: true;
}

const BUCKET = /^[0-9a-z]{1,7}$/;
const SIGNED = Object.freeze({ signed: true });
const UNSIGNED = Object.freeze({ signed: false });

/**
 * The assignment cookie: `<bucket in base 36>.<rollout>`. It stores the key's bucket, not the arm,
 * so the arm still follows the weights (monotone) while the bucket stays put; the rollout id makes
 * a new rollout ignore (and replace) old cookies.
 */
export class StickyCookie {
  readonly name: string;
  private readonly signed: boolean | 'auto';
  private readonly secure: boolean | undefined;
  /** Prebuilt `cookies.set` options: [signed][secure]. */
  private readonly setOptions: SetOptions[][];

  constructor(raw: CookieOptions) {
    this.name = checkToken('stickiness.cookie.name', raw.name ?? DEFAULTS.cookieName);
    const maxAge = positiveInt('stickiness.cookie.maxAgeMs', raw.maxAgeMs, DEFAULTS.cookieMaxAgeMs);
    const path = raw.path ?? DEFAULTS.cookiePath;
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw optionError('stickiness.cookie.path', 'a path starting with /', path);
    }
    if (raw.domain !== undefined && (typeof raw.domain !== 'string' || raw.domain === '')) {
      throw optionError('stickiness.cookie.domain', 'a non-empty string', raw.domain);
    }
    const sameSite = raw.sameSite ?? DEFAULTS.cookieSameSite;
    if (sameSite !== 'strict' && sameSite !== 'lax' && sameSite !== 'none') {
      throw optionError('stickiness.cookie.sameSite', "'strict', 'lax' or 'none'", sameSite);
    }
    if (raw.secure !== undefined && typeof raw.secure !== 'boolean') {
      throw optionError('stickiness.cookie.secure', 'a boolean', raw.secure);
    }
    const signed = raw.signed ?? 'auto';
    if (signed !== 'auto' && typeof signed !== 'boolean') {
      throw optionError('stickiness.cookie.signed', "a boolean or 'auto'", signed);
    }
    this.signed = signed;
    this.secure = raw.secure;
    this.setOptions = [false, true].map((s) =>
      [false, true].map((secure) =>
        Object.freeze({
          signed: s,
          maxAge,
          path,
          domain: raw.domain,
          sameSite,
          secure,
          httpOnly: true as const,
          overwrite: true as const,
        }),
      ),
    );
  }

  private signs(ctx: Context): boolean {
    if (this.signed === 'auto') {
      const keys = ctx.app.keys as unknown as unknown[] | undefined;
      return keys !== undefined && keys.length > 0;
    }
    return this.signed;
  }

  /** The bucket the request's cookie carries for `rollout`, or undefined (absent, stale, forged). */
  read(ctx: Context, rollout: string): number | undefined {
    const value = ctx.cookies.get(this.name, this.signs(ctx) ? SIGNED : UNSIGNED);
    if (value === undefined) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0 || value.slice(dot + 1) !== rollout) return undefined;
    const digits = value.slice(0, dot);
    if (!BUCKET.test(digits)) return undefined;
    const bucket = parseInt(digits, 36);
    return bucket <= 0xffffffff ? bucket : undefined;
  }

  /** Sets the cookie; throws what `cookies.set` throws (no keys, secure over HTTP). */
  write(ctx: Context, rollout: string, bucket: number): void {
    const secure = this.secure ?? ctx.secure;
    const options = this.setOptions[this.signs(ctx) ? 1 : 0]![secure ? 1 : 0]!;
    ctx.cookies.set(this.name, `${bucket.toString(36)}.${rollout}`, options);
  }
}

/** Normalises `stickiness.cookie`. */
export function stickyCookie(raw: unknown): StickyCookie | undefined {
  if (raw === false) return undefined;
  if (raw === undefined) return new StickyCookie({});
  if (!isPlainObject(raw)) throw optionError('stickiness.cookie', 'an object or false', raw);
  return new StickyCookie(raw as CookieOptions);
}
