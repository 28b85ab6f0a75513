import { createPrivateKey, createPublicKey, createSecretKey, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { JwtConfig } from '../config.js';
import { UnauthorizedError } from '../http/errors.js';
import { ROLES, type Role } from '../users/model.js';

/** What a verified token says about its bearer. */
export interface Principal {
  /** User id (`sub`). */
  id: string;
  roles: readonly Role[];
}

/** Issues and verifies the demo's access tokens. */
export interface TokenService {
  issue(user: { id: string; roles: readonly Role[] }): { token: string; expiresIn: number };
  /** Verifies a compact JWS; throws an UnauthorizedError (401) for any bad token. */
  verify(token: string): Principal;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_TOKEN_LENGTH = 4096;

/**
 * Builds the token service from the configuration: HS256 with a shared secret, or RS256 with a
 * key pair (checked to match at start). Verification pins the algorithm, so `alg: none` and
 * algorithm-confusion tokens (an HS256 token "signed" with the RSA public key) are refused.
 */
export function createTokenService(config: JwtConfig): TokenService {
  let signKey: jwt.Secret;
  let verifyKey: jwt.Secret;
  if (config.algorithm === 'HS256') {
    if (config.secret === undefined) throw new TypeError('demo: HS256 needs a secret');
    // A KeyObject, made once: given a string or Buffer, jsonwebtoken first tries to parse it as a
    // PEM key on every sign and verify, and that failed parse (~0.3 ms) cost ~50x the HMAC itself.
    signKey = createSecretKey(Buffer.from(config.secret));
    verifyKey = signKey;
  } else {
    if (config.privateKey === undefined || config.publicKey === undefined)
      throw new TypeError('demo: RS256 needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY');
    const priv = createPrivateKey(config.privateKey);
    const pub = createPublicKey(config.publicKey);
    if (priv.asymmetricKeyType !== 'rsa' || pub.asymmetricKeyType !== 'rsa')
      throw new TypeError('demo: RS256 needs RSA keys');
    const derived = createPublicKey(priv).export({ type: 'spki', format: 'pem' });
    if (derived !== pub.export({ type: 'spki', format: 'pem' }))
      throw new TypeError('demo: JWT_PUBLIC_KEY is not the public half of JWT_PRIVATE_KEY');
    signKey = priv;
    verifyKey = pub;
  }
  const algorithms: jwt.Algorithm[] = [config.algorithm];

  return {
    issue(user) {
      const token = jwt.sign({ roles: user.roles }, signKey, {
        algorithm: config.algorithm,
        expiresIn: config.ttlSeconds,
        issuer: config.issuer,
        audience: config.audience,
        subject: user.id,
        jwtid: randomUUID(),
      });
      return { token, expiresIn: config.ttlSeconds };
    },
    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
        throw new UnauthorizedError('malformed token');
      }
      let payload: string | jwt.JwtPayload;
      try {
        payload = jwt.verify(token, verifyKey, {
          algorithms,
          issuer: config.issuer,
          audience: config.audience,
          clockTolerance: 5,
        });
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'TokenExpiredError') throw new UnauthorizedError('token expired');
        if (name === 'NotBeforeError') throw new UnauthorizedError('token not yet valid');
        throw new UnauthorizedError('invalid token');
      }
      if (
        typeof payload === 'string' ||
        typeof payload.sub !== 'string' ||
        !UUID.test(payload.sub)
      ) {
        throw new UnauthorizedError('invalid token');
      }
      if (typeof payload.exp !== 'number') throw new UnauthorizedError('invalid token');
      const roles: unknown = payload.roles;
      if (!Array.isArray(roles) || !roles.every((r) => (ROLES as readonly unknown[]).includes(r))) {
        throw new UnauthorizedError('invalid token');
      }
      return { id: payload.sub, roles: roles as Role[] };
    },
  };
}
