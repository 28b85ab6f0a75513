import type { Context } from 'koa';
import {
  checkFunction,
  checkMatcher,
  checkOptionNames,
  checkToken,
  isPlainObject,
  optionError,
  type Matcher,
} from './options.js';

/** A rule ready to run: `match` returns the arm name or undefined. */
export interface CompiledRule {
  readonly trusted: boolean;
  readonly match: (ctx: Context) => string | undefined;
  /** Request header this rule reads, for `Vary`, or undefined. */
  readonly vary: string | undefined;
  /** True for predicates, whose arm must be checked when they answer. */
  readonly dynamic: boolean;
}

function matches(matcher: Matcher | undefined, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (matcher === undefined) return true;
  return typeof matcher === 'string' ? value === matcher : matcher.test(value);
}

function checkRegExpFlags(option: string, matcher: Matcher | undefined): void {
  // A global or sticky RegExp keeps lastIndex between calls, so it would match every other request.
  if (matcher instanceof RegExp && (matcher.global || matcher.sticky)) {
    throw optionError(option, 'a RegExp without the g or y flag', matcher);
  }
}

const KINDS = ['header', 'cookie', 'query', 'pathPrefix', 'method', 'predicate'] as const;

/** The options of each kind of rule (`value` only where a value is read). */
const RULE_OPTIONS: Readonly<Record<(typeof KINDS)[number], readonly string[]>> = Object.freeze({
  header: ['header', 'value', 'arm', 'trusted'],
  cookie: ['cookie', 'value', 'arm', 'trusted'],
  query: ['query', 'value', 'arm', 'trusted'],
  pathPrefix: ['pathPrefix', 'arm', 'trusted'],
  method: ['method', 'arm', 'trusted'],
  predicate: ['predicate', 'trusted'],
});
const ANY_RULE_OPTIONS = [...KINDS, 'value', 'arm', 'trusted'];

/** Validates and compiles `rules`; every arm a rule names must be in `arms`. */
export function compileRules(rules: unknown, arms: ReadonlySet<string>): CompiledRule[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw optionError('rules', 'an array of rules', rules);
  return rules.map((raw: unknown, i) => {
    const at = `rules[${i}]`;
    if (!isPlainObject(raw)) throw optionError(at, 'a rule object', raw);
    const kinds = KINDS.filter((k) => raw[k] !== undefined);
    // A misspelt kind (`headr`) gets its suggestion rather than "exactly one of".
    checkOptionNames(at, raw, kinds.length === 1 ? RULE_OPTIONS[kinds[0]!] : ANY_RULE_OPTIONS);
    if (kinds.length !== 1) {
      throw optionError(
        at,
        'a rule with exactly one of `header`, `cookie`, `query`, `pathPrefix`, `method`, `predicate`',
        raw,
      );
    }
    const kind = kinds[0]!;
    if (raw.trusted !== undefined && typeof raw.trusted !== 'boolean') {
      throw optionError(`${at}.trusted`, 'a boolean', raw.trusted);
    }
    const trusted = raw.trusted === true;
    if (kind === 'predicate') {
      const predicate = checkFunction<(ctx: Context) => string | undefined>(
        `${at}.predicate`,
        raw.predicate,
      )!;
      return { trusted, match: predicate, vary: undefined, dynamic: true };
    }
    const arm = raw.arm;
    if (typeof arm !== 'string' || !arms.has(arm)) {
      throw optionError(`${at}.arm`, `one of the arms (${[...arms].join(', ')})`, arm);
    }
    let match: (ctx: Context) => string | undefined;
    let vary: string | undefined;
    if (kind === 'header') {
      const name = checkToken(`${at}.header`, raw.header).toLowerCase();
      const value = checkMatcher(`${at}.value`, raw.value);
      checkRegExpFlags(`${at}.value`, value);
      vary = name;
      match = (ctx) => {
        const got = ctx.req.headers[name];
        return matches(value, Array.isArray(got) ? got[0] : got) ? arm : undefined;
      };
    } else if (kind === 'cookie') {
      const name = checkToken(`${at}.cookie`, raw.cookie);
      const value = checkMatcher(`${at}.value`, raw.value);
      checkRegExpFlags(`${at}.value`, value);
      vary = 'cookie';
      match = (ctx) => (matches(value, ctx.cookies.get(name)) ? arm : undefined);
    } else if (kind === 'query') {
      if (typeof raw.query !== 'string' || raw.query === '') {
        throw optionError(`${at}.query`, 'a non-empty string', raw.query);
      }
      const name = raw.query;
      const value = checkMatcher(`${at}.value`, raw.value);
      checkRegExpFlags(`${at}.value`, value);
      match = (ctx) => {
        const got = ctx.query[name];
        return matches(value, Array.isArray(got) ? got[0] : got) ? arm : undefined;
      };
    } else if (kind === 'pathPrefix') {
      const prefix = raw.pathPrefix;
      if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
        throw optionError(`${at}.pathPrefix`, 'a path starting with /', prefix);
      }
      // `/beta` matches `/beta` and `/beta/x`, not `/betamax`.
      const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
      match = (ctx) => {
        const path = ctx.path;
        return path.startsWith(bare) && (path.length === bare.length || path[bare.length] === '/')
          ? arm
          : undefined;
      };
    } else {
      const list = Array.isArray(raw.method) ? (raw.method as unknown[]) : [raw.method];
      if (list.length === 0)
        throw optionError(`${at}.method`, 'a method or a list of methods', raw.method);
      const methods = new Set(
        list.map((m, j) => checkToken(`${at}.method[${j}]`, m).toUpperCase()),
      );
      match = (ctx) => (methods.has(ctx.method) ? arm : undefined);
    }
    return { trusted, match, vary, dynamic: false };
  });
}
