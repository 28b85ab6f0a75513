import { randomUUID } from 'node:crypto';
import { ConflictError, HttpError } from '../http/errors.js';
import type { Role, UserRecord } from './model.js';

export interface NewUser {
  email: string;
  name: string;
  roles: Role[];
  passwordHash: string;
}

export type UserPatch = Partial<NewUser>;

/**
 * Where users live. The demo ships an in-memory implementation; a real service puts a database
 * behind the same interface. Ids are generated here, server-side.
 */
export interface UserRepository {
  list(page: { limit: number; offset: number }): Promise<{ items: UserRecord[]; total: number }>;
  get(id: string): Promise<UserRecord | undefined>;
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /** Throws a ConflictError when the email is taken. */
  create(user: NewUser): Promise<UserRecord>;
  /** Undefined when there is no such user; ConflictError when the new email is taken. */
  update(id: string, patch: UserPatch): Promise<UserRecord | undefined>;
  delete(id: string): Promise<boolean>;
}

/** An in-memory repository, bounded so that a client cannot grow the process without limit. */
export class InMemoryUserRepository implements UserRepository {
  readonly #byId = new Map<string, UserRecord>();
  readonly #idByEmail = new Map<string, string>();

  constructor(
    private readonly maxUsers = 10_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async list({ limit, offset }: { limit: number; offset: number }) {
    const all = [...this.#byId.values()];
    return { items: all.slice(offset, offset + limit).map(clone), total: all.length };
  }

  async get(id: string) {
    const user = this.#byId.get(id);
    return user && clone(user);
  }

  async findByEmail(email: string) {
    const id = this.#idByEmail.get(email.toLowerCase());
    return id === undefined ? undefined : this.get(id);
  }

  async create(input: NewUser) {
    const key = input.email.toLowerCase();
    if (this.#idByEmail.has(key)) throw new ConflictError('a user with this email exists');
    if (this.#byId.size >= this.maxUsers) {
      throw new HttpError(
        'ERR_DEMO_STORAGE_FULL',
        507,
        'Insufficient storage',
        'the demo store is full',
        { expose: true },
      );
    }
    const at = this.now().toISOString();
    const user: UserRecord = {
      id: randomUUID(),
      ...input,
      email: key,
      createdAt: at,
      updatedAt: at,
    };
    this.#byId.set(user.id, user);
    this.#idByEmail.set(key, user.id);
    return clone(user);
  }

  async update(id: string, patch: UserPatch) {
    const user = this.#byId.get(id);
    if (!user) return undefined;
    const email = patch.email?.toLowerCase();
    if (email !== undefined && email !== user.email) {
      if (this.#idByEmail.has(email)) throw new ConflictError('a user with this email exists');
      this.#idByEmail.delete(user.email);
      this.#idByEmail.set(email, id);
      user.email = email;
    }
    if (patch.name !== undefined) user.name = patch.name;
    if (patch.roles !== undefined) user.roles = [...patch.roles];
    if (patch.passwordHash !== undefined) user.passwordHash = patch.passwordHash;
    user.updatedAt = this.now().toISOString();
    return clone(user);
  }

  async delete(id: string) {
    const user = this.#byId.get(id);
    if (!user) return false;
    this.#byId.delete(id);
    this.#idByEmail.delete(user.email);
    return true;
  }
}

function clone(user: UserRecord): UserRecord {
  return { ...user, roles: [...user.roles] };
}
