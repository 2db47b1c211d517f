/**
 * Offline verification of workspace mount grants, for the platform's sandbox
 * runtime: `lk.workspaces.mount` answers an allowed mount with a grant, a
 * compact JWS (RFC 7515) signed with Ed25519 — header `{"alg": "EdDSA",
 * "typ": "latchkey-mount+jwt", "kid"}`, claims {@link MountGrantClaims} —
 * and `GET /v1/workspaces/grant-keys` publishes the keys that verify it (a
 * JWK Set, current key first; several during a master key rotation).
 *
 * {@link verifyMountGrant} checks a grant against a JWK Set the caller
 * holds; {@link MountGrantVerifier} fetches the set, caches it and fetches
 * it again when a grant names a key it does not hold (what
 * `lk.workspaces.verifyGrant` uses). Only Node's `crypto` is used.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { LatchkeyError } from './errors.js';

/** The grants' `typ` header. */
export const MOUNT_GRANT_TYPE = 'latchkey-mount+jwt';
/** The grants' audience (`aud`). */
export const MOUNT_GRANT_AUDIENCE = 'latchkey:mount';
/** How long {@link MountGrantVerifier} keeps a fetched key set (the server's `Cache-Control: max-age`). */
export const GRANT_KEYS_MAX_AGE_MS = 300_000;
/**
 * The least time between two fetches of the key set by {@link MountGrantVerifier}:
 * a stream of grants naming unknown keys costs the server one request per
 * period, not one per grant.
 */
export const GRANT_KEYS_COOLDOWN_MS = 30_000;

/** What a verified grant says. */
export interface MountGrantClaims {
  /** Who issued it: the server's public URL, or `latchkey`. */
  iss: string;
  /** {@link MOUNT_GRANT_AUDIENCE}. */
  aud: string;
  /** The workspace (`wsp_…`). */
  sub: string;
  /** Its organization (`org_…`). */
  org: string;
  /** The sandbox it may be mounted into. */
  sandboxId: string;
  /** Where in the sandbox. */
  path: string;
  /** `ro` or `rw`. */
  mode: 'ro' | 'rw';
  /** The workspace's storage prefix (`orgs/{orgId}/workspaces/{wspId}/`). */
  prefix: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
  /** The grant's unique id. */
  jti: string;
}

/** One key of a JWK Set (`GET /v1/workspaces/grant-keys`): an Ed25519 `OKP` key. */
export interface GrantJwk {
  kty: string;
  crv?: string | undefined;
  x?: string | undefined;
  kid?: string | undefined;
  alg?: string | undefined;
  use?: string | undefined;
}

/** A JWK Set: `{"keys": [...]}`. */
export interface GrantJwks {
  keys: readonly GrantJwk[];
}

/** What to check besides the signature. */
export interface VerifyGrantOptions {
  /** The sandbox that asks to mount: the grant must name it. */
  sandboxId?: string | undefined;
  /** The time to check `exp` against (default: now); a `Date` or milliseconds since the epoch. */
  now?: Date | number | undefined;
}

/** Why a grant was refused. */
export type MountGrantFailure =
  /** Not three base64url parts of JSON, or claims of the wrong shape. */
  | 'malformed'
  /** The header is not `alg: EdDSA`, `typ: latchkey-mount+jwt` with a `kid`. */
  | 'header'
  /** No Ed25519 key of the set has the grant's `kid`. */
  | 'unknown_key'
  /** The signature does not verify. */
  | 'signature'
  /** Another audience. */
  | 'audience'
  /** At or past its `exp`. */
  | 'expired'
  /** Made for another sandbox. */
  | 'sandbox_mismatch';

/** A grant that does not verify; `reason` says why (its `code` is `invalid_grant`). */
export class MountGrantError extends LatchkeyError {
  /** Why. */
  readonly reason: MountGrantFailure;

  constructor(reason: MountGrantFailure, message: string) {
    super(`mount grant refused (${reason}): ${message}`, { code: 'invalid_grant' });
    this.reason = reason;
  }
}

/** A grant taken apart, its signature not yet checked. */
interface ParsedGrant {
  kid: string;
  signingInput: Buffer;
  signature: Buffer;
  claims: unknown;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The bytes of a canonical unpadded base64url string, or a `malformed` refusal. */
function decodePart(part: string, what: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  if (!BASE64URL.test(part) || bytes.toString('base64url') !== part) {
    throw new MountGrantError('malformed', `the ${what} is not base64url`);
  }
  return bytes;
}

/** The JSON object of a base64url part, or a `malformed` refusal. */
function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodePart(part, what).toString('utf8'));
  } catch (e) {
    if (e instanceof MountGrantError) throw e;
    throw new MountGrantError('malformed', `the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MountGrantError('malformed', `the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Splits a grant and checks its header (`alg`, `typ`, `kid`). */
function parseGrant(grant: string): ParsedGrant {
  const parts = grant.split('.');
  if (parts.length !== 3) throw new MountGrantError('malformed', 'a grant has three parts');
  const [h, c, s] = parts as [string, string, string];
  const header = decodeJson(h, 'header');
  if (header['alg'] !== 'EdDSA' || header['typ'] !== MOUNT_GRANT_TYPE) {
    throw new MountGrantError('header', `expected alg EdDSA and typ ${MOUNT_GRANT_TYPE}`);
  }
  const kid = header['kid'];
  if (typeof kid !== 'string' || kid === '') throw new MountGrantError('header', 'the header names no kid');
  return {
    kid,
    signingInput: Buffer.from(`${h}.${c}`, 'ascii'),
    signature: decodePart(s, 'signature'),
    claims: decodeJson(c, 'claims'),
  };
}

/** The Ed25519 key of `jwks` named `kid`, or `undefined`. */
function findKey(jwks: GrantJwks, kid: string): KeyObject | undefined {
  const jwk = jwks.keys.find(
    (k) => k.kid === kid && k.kty === 'OKP' && k.crv === 'Ed25519' && (k.alg === undefined || k.alg === 'EdDSA'),
  );
  if (jwk?.x === undefined) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

const STRING_CLAIMS = ['iss', 'aud', 'sub', 'org', 'sandboxId', 'path', 'prefix', 'jti'] as const;

/** The claims, checked to have the shape of {@link MountGrantClaims}. */
function readClaims(value: unknown): MountGrantClaims {
  const c = value as Record<string, unknown>;
  for (const name of STRING_CLAIMS) {
    if (typeof c[name] !== 'string') throw new MountGrantError('malformed', `the claim ${name} is missing`);
  }
  if (c['mode'] !== 'ro' && c['mode'] !== 'rw') throw new MountGrantError('malformed', 'the claim mode is not ro or rw');
  if (!Number.isInteger(c['iat']) || !Number.isInteger(c['exp'])) {
    throw new MountGrantError('malformed', 'the claims iat and exp are not integers');
  }
  return c as unknown as MountGrantClaims;
}

/** Checks a parsed grant's signature with `key`, then its claims. */
function check(parsed: ParsedGrant, key: KeyObject | undefined, options: VerifyGrantOptions): MountGrantClaims {
  if (key === undefined) throw new MountGrantError('unknown_key', `no published Ed25519 key has kid ${parsed.kid}`);
  if (!verifySignature(null, parsed.signingInput, key, parsed.signature)) {
    throw new MountGrantError('signature', 'the signature does not verify');
  }
  const claims = readClaims(parsed.claims);
  if (claims.aud !== MOUNT_GRANT_AUDIENCE) throw new MountGrantError('audience', `the audience is not ${MOUNT_GRANT_AUDIENCE}`);
  const { now = Date.now(), sandboxId } = options;
  const nowSecs = Math.floor((typeof now === 'number' ? now : now.getTime()) / 1000);
  if (claims.exp <= nowSecs) throw new MountGrantError('expired', `expired at ${new Date(claims.exp * 1000).toISOString()}`);
  if (sandboxId !== undefined && claims.sandboxId !== sandboxId) {
    throw new MountGrantError('sandbox_mismatch', 'the grant is for another sandbox');
  }
  return claims;
}

/**
 * Verifies a mount grant with the keys of `jwks` (what `GET
 * /v1/workspaces/grant-keys` answers), offline: three parts, the header's
 * `alg` (EdDSA) and `typ`, the Ed25519 key of its `kid`, the signature, the
 * audience, `exp` after `now`, and, when given, the sandbox. Returns the
 * claims; throws a {@link MountGrantError} whose `reason` says why not.
 */
export function verifyMountGrant(grant: string, jwks: GrantJwks, options: VerifyGrantOptions = {}): MountGrantClaims {
  const parsed = parseGrant(grant);
  return check(parsed, findKey(jwks, parsed.kid), options);
}

/** How {@link MountGrantVerifier} caches the key set. */
export interface MountGrantVerifierOptions {
  /** How long a fetched set is used before it is fetched again (default {@link GRANT_KEYS_MAX_AGE_MS}). */
  maxAgeMs?: number | undefined;
  /**
   * The least time between two fetches when a grant names an unknown key
   * (default {@link GRANT_KEYS_COOLDOWN_MS}); 0 fetches again for each.
   */
  cooldownMs?: number | undefined;
}

/**
 * Verifies mount grants with a key set it fetches (`fetchKeys`, e.g.
 * `() => lk.workspaces.grantKeys()`) and keeps for `maxAgeMs`. A grant whose
 * `kid` is not in the set (a master key rotation since the fetch) makes it
 * fetch the set once more, unless it fetched less than `cooldownMs` ago.
 * Concurrent verifications share one fetch.
 */
export class MountGrantVerifier {
  private readonly fetchKeys: () => Promise<GrantJwks>;
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private keys: GrantJwks | undefined;
  private fetchedAt = 0;
  private inFlight: Promise<GrantJwks> | undefined;

  constructor(fetchKeys: () => Promise<GrantJwks>, options: MountGrantVerifierOptions = {}) {
    this.fetchKeys = fetchKeys;
    this.maxAgeMs = options.maxAgeMs ?? GRANT_KEYS_MAX_AGE_MS;
    this.cooldownMs = options.cooldownMs ?? GRANT_KEYS_COOLDOWN_MS;
  }

  /**
   * Verifies `grant` as {@link verifyMountGrant} does, with the fetched
   * keys. A malformed grant or header is refused before any fetch; a failed
   * fetch rejects with the client's error.
   */
  async verify(grant: string, options: VerifyGrantOptions = {}): Promise<MountGrantClaims> {
    const parsed = parseGrant(grant);
    let keys = this.keys;
    const age = Date.now() - this.fetchedAt;
    if (keys === undefined || age >= this.maxAgeMs) {
      keys = await this.refresh();
    } else if (findKey(keys, parsed.kid) === undefined && age >= this.cooldownMs) {
      keys = await this.refresh();
    }
    return check(parsed, findKey(keys, parsed.kid), options);
  }

  /** Fetches the key set (one fetch at a time). */
  private refresh(): Promise<GrantJwks> {
    this.inFlight ??= this.fetchKeys()
      .then((keys) => {
        this.keys = keys;
        this.fetchedAt = Date.now();
        return keys;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
