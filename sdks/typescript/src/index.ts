/**
 * `@latchkey/sdk`: a typed client for latchkey's API (types generated from
 * `docs/openapi.json`), with retries, timeouts, typed errors and paged lists.
 * Middleware for Express and Hono: `@latchkey/sdk/express`, `@latchkey/sdk/hono`.
 */
export { Latchkey, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS } from './client.js';
export type { ClientOptions } from './client.js';
export {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  LatchkeyError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
} from './errors.js';
export type { LatchkeyErrorInit } from './errors.js';
export { Page, PagePromise } from './core/pagination.js';
export type { RequestOptions } from './core/transport.js';
export { MAX_RETRY_AFTER_MS } from './core/transport.js';
export type { BodyOf, DataOf, ItemOf, OperationId, QueryOf, ResponseOf, Schemas } from './core/types.js';
export { OPERATIONS } from './operations.js';
export { VERIFY_CODES } from './resources/keys.js';
export type { ApiKey, CreatedApiKey, Verdict, VerifyCode } from './resources/keys.js';
export type { ForwardAuthHeaders, ForwardedIdentity } from './resources/auth.js';
export type { ResolveSecretsQuery } from './resources/secrets.js';
export type { SignedLeakReport } from './resources/leaks.js';
export { CONNECT_EXPIRY_GRACE_MS, CONNECT_POLL_INTERVAL_MS } from './resources/oauth.js';
export type { WaitForConnectOptions } from './resources/oauth.js';
export {
  GRANT_KEYS_COOLDOWN_MS,
  GRANT_KEYS_MAX_AGE_MS,
  MOUNT_GRANT_AUDIENCE,
  MOUNT_GRANT_TYPE,
  MountGrantError,
  MountGrantVerifier,
  verifyMountGrant,
} from './grants.js';
export type {
  GrantJwk,
  GrantJwks,
  MountGrantClaims,
  MountGrantFailure,
  MountGrantVerifierOptions,
  VerifyGrantOptions,
} from './grants.js';
export type { components, operations, paths } from './generated/openapi.js';
