/** The roles a user can hold. `tester` may pick the orders canary arm by header. */
export const ROLES = ['user', 'tester', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A stored user; `passwordHash` never leaves the service. */
export interface UserRecord {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  passwordHash: string;
  createdAt: string;
  updatedAt: string;
}

/** What the API shows of a user. */
export interface PublicUser {
  id: string;
  email: string;
  name: string;
  roles: Role[];
  createdAt: string;
  updatedAt: string;
}

/** Picks the public fields one by one, so a field added to the record is never leaked by accident. */
export function toPublicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    roles: [...user.roles],
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}
