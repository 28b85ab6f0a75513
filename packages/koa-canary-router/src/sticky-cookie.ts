import type { Context } from 'koa';
import {
  DEFAULTS,
  OPTION_NAMES,
  checkOptionNames,
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

/**
 * The first value of cookie `name` in a Cookie header, without building Koa's Cookies object:
 * the unsigned read is on every request's hot path. Values this package writes need no decoding.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  for (;;) {
    const at: number = header.indexOf(name, from);
    if (at === -1) return undefined;
    const end: number = at + name.length;
    const before = at === 0 ? ';' : header[at - 1];
    if ((before === ';' || before === ' ') && header[end] === '=') {
      const stop = header.indexOf(';', end + 1);
      return header.slice(end + 1, stop === -1 ? undefined : stop).trim();
    }
    from = end;
  }
}
const SIGNED = Object.freeze({ signed: true });

/**
 * The assignment cookie: `<bucket in base 36>.<rollout>`. It stores the key's bucket, not the arm,
 * so the arm still follows the weights (monotone) while the bucket stays put; the rollout id makes
 * a new rollout ignore (and replace) old cookies.
 */
export class StickyCookie {
  readonly name: string;
  private readonly signed: boolean | 'auto';
  private readonly secure: boolean | undefined;
  /** Prebuilt `cookies.set` options of a signed cookie: [secure]. */
  private readonly signedOptions: SetOptions[];
  private readonly maxAge: number;
  /** Prebuilt attributes of an unsigned Set-Cookie before and after `expires`: [secure]. */
  private readonly attributes: Array<readonly [string, string]>;
  /** `expires` formatted for the second in `expiresAt`: formatting a date costs more than the rest. */
  private expiresAt = -1;
  private expires = '';

  constructor(raw: CookieOptions) {
    this.name = checkToken('stickiness.cookie.name', raw.name ?? DEFAULTS.cookieName);
    const maxAge = positiveInt('stickiness.cookie.maxAgeMs', raw.maxAgeMs, DEFAULTS.cookieMaxAgeMs);
    const path = raw.path ?? DEFAULTS.cookiePath;
    if (typeof path !== 'string' || !/^\/[\x21-\x3a\x3c-\x7e]*$/.test(path)) {
      throw optionError(
        'stickiness.cookie.path',
        'a path starting with / (no `;`, spaces or controls)',
        path,
      );
    }
    if (
      raw.domain !== undefined &&
      (typeof raw.domain !== 'string' || !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(raw.domain))
    ) {
      throw optionError('stickiness.cookie.domain', 'a domain name', raw.domain);
    }
    const sameSite = raw.sameSite ?? DEFAULTS.cookieSameSite;
    if (sameSite !== 'strict' && sameSite !== 'lax' && sameSite !== 'none') {
      throw optionError('stickiness.cookie.sameSite', "'strict', 'lax' or 'none'", sameSite);
    }
    if (raw.secure !== undefined && typeof raw.secure !== 'boolean') {
      throw optionError('stickiness.cookie.secure', 'a boolean', raw.secure);
    }
    // Browsers drop a SameSite=None cookie that is not Secure: every visit would be a first one.
    if (sameSite === 'none' && raw.secure === false) {
      throw optionError(
        'stickiness.cookie.secure',
        "not false with sameSite 'none' (browsers drop such a cookie)",
        raw.secure,
      );
    }
    const signed = raw.signed ?? 'auto';
    if (signed !== 'auto' && typeof signed !== 'boolean') {
      throw optionError('stickiness.cookie.signed', "a boolean or 'auto'", signed);
    }
    this.signed = signed;
    this.secure = raw.secure;
    this.maxAge = maxAge;
    // The same attributes, in the same order, as the `cookies` module writes for signed cookies.
    this.attributes = [false, true].map(
      (secure) =>
        [
          `; path=${path}; expires=`,
          `${raw.domain === undefined ? '' : `; domain=${raw.domain}`}; samesite=${sameSite}${secure ? '; secure' : ''}; httponly`,
        ] as const,
    );
    this.signedOptions = [false, true].map((secure) =>
      Object.freeze({
        signed: true,
        maxAge,
        path,
        domain: raw.domain,
        sameSite,
        secure,
        httpOnly: true as const,
        overwrite: true as const,
      }),
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
    const value = this.signs(ctx)
      ? ctx.cookies.get(this.name, SIGNED)
      : cookieValue(ctx.req.headers.cookie, this.name);
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
    const value = `${bucket.toString(36)}.${rollout}`;
    if (this.signs(ctx)) {
      ctx.cookies.set(this.name, value, this.signedOptions[secure ? 1 : 0]!);
      return;
    }
    const [head, tail] = this.attributes[secure ? 1 : 0]!;
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.expiresAt) {
      this.expiresAt = second;
      this.expires = new Date(now + this.maxAge).toUTCString();
    }
    ctx.append('Set-Cookie', `${this.name}=${value}${head}${this.expires}${tail}`);
  }
}

/** Normalises `stickiness.cookie`. */
export function stickyCookie(raw: unknown): StickyCookie | undefined {
  if (raw === false) return undefined;
  if (raw === undefined) return new StickyCookie({});
  if (!isPlainObject(raw)) throw optionError('stickiness.cookie', 'an object or false', raw);
  checkOptionNames('stickiness.cookie', raw, OPTION_NAMES.cookie);
  return new StickyCookie(raw as CookieOptions);
}
