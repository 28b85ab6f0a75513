import { ValidationError, type FieldError } from '../http/errors.js';
import { ROLES, type Role } from './model.js';

const EMAIL =
  /^[^\s@"<>()[\]\\,;:]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
// C0/C1 controls and bidi overrides have no place in a display name.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreateUserInput {
  email: string;
  name: string;
  password: string;
  roles: Role[];
}

export type UpdateUserInput = Partial<CreateUserInput> & {
  /** The caller's own password, required when a user changes their own email or password. */
  currentPassword?: string;
};

export interface LoginInput {
  email: string;
  password: string;
}

type Rule = (value: unknown, field: string, errors: FieldError[]) => unknown;

const email: Rule = (value, field, errors) => {
  if (typeof value !== 'string' || value.length > 254 || !EMAIL.test(value)) {
    errors.push({ field, message: 'must be an email address' });
    return undefined;
  }
  return value.toLowerCase();
};

const name: Rule = (value, field, errors) => {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  if (
    typeof value !== 'string' ||
    trimmed.length < 1 ||
    trimmed.length > 100 ||
    CONTROL.test(trimmed)
  ) {
    errors.push({ field, message: 'must be a string of 1 to 100 printable characters' });
    return undefined;
  }
  return trimmed;
};

const password: Rule = (value, field, errors) => {
  if (typeof value !== 'string' || value.length < 12 || value.length > 128) {
    errors.push({ field, message: 'must be a string of 12 to 128 characters' });
    return undefined;
  }
  return value;
};

const roles: Rule = (value, field, errors) => {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((r) => (ROLES as readonly unknown[]).includes(r)) ||
    new Set(value).size !== value.length
  ) {
    errors.push({
      field,
      message: `must be a non-empty list of distinct roles from ${ROLES.join(', ')}`,
    });
    return undefined;
  }
  return value as Role[];
};

/** A password as typed, checked for shape only: a policy change must not lock out old accounts. */
const anyPassword: Rule = (value, field, errors) => {
  if (typeof value !== 'string' || value.length < 1 || value.length > 128) {
    errors.push({ field, message: 'must be a string of 1 to 128 characters' });
    return undefined;
  }
  return value;
};

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  return body as Record<string, unknown>;
}

function check<T>(
  body: unknown,
  rules: Record<string, Rule>,
  required: readonly string[],
  atLeastOne = false,
): T {
  const input = objectBody(body);
  const errors: FieldError[] = [];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(rules, key))
      errors.push({ field: `body.${key}`, message: 'is not allowed' });
  }
  for (const [key, rule] of Object.entries(rules)) {
    if (input[key] === undefined) {
      if (required.includes(key)) errors.push({ field: `body.${key}`, message: 'is required' });
      continue;
    }
    out[key] = rule(input[key], `body.${key}`, errors);
  }
  if (atLeastOne && errors.length === 0 && Object.keys(out).length === 0) {
    errors.push({
      field: 'body',
      message: `must set at least one of ${Object.keys(rules).join(', ')}`,
    });
  }
  if (errors.length > 0) throw new ValidationError(errors);
  return out as T;
}

export function parseCreateUser(body: unknown): CreateUserInput {
  const input = check<Partial<CreateUserInput>>(body, { email, name, password, roles }, [
    'email',
    'name',
    'password',
  ]);
  return { ...(input as CreateUserInput), roles: input.roles ?? ['user'] };
}

export function parseUpdateUser(body: unknown): UpdateUserInput {
  const input = check<UpdateUserInput>(
    body,
    { email, name, password, roles, currentPassword: anyPassword },
    [],
    true,
  );
  const { currentPassword: _, ...changes } = input;
  if (Object.keys(changes).length === 0) {
    throw new ValidationError([
      { field: 'body', message: 'must set at least one of email, name, password, roles' },
    ]);
  }
  return input;
}

export function parseLogin(body: unknown): LoginInput {
  return check<LoginInput>(body, { email, password: anyPassword }, ['email', 'password']);
}

/** A path `:id`: a UUID, or a 400 naming `params.id`. */
export function parseId(value: string | undefined): string {
  if (value === undefined || !UUID.test(value)) {
    throw new ValidationError([{ field: 'params.id', message: 'must be a UUID' }]);
  }
  return value.toLowerCase();
}

/** `?limit=&offset=` with bounds; anything else in the query is ignored. */
export function parsePage(query: Record<string, string | string[] | undefined>): {
  limit: number;
  offset: number;
} {
  const errors: FieldError[] = [];
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = query[key];
    if (raw === undefined) return fallback;
    const n = typeof raw === 'string' && /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(n >= min && n <= max)) {
      errors.push({ field: `query.${key}`, message: `must be an integer from ${min} to ${max}` });
      return fallback;
    }
    return n;
  };
  const page = { limit: int('limit', 20, 1, 100), offset: int('offset', 0, 0, 1_000_000) };
  if (errors.length > 0) throw new ValidationError(errors);
  return page;
}
