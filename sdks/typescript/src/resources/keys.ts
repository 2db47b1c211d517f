/**
 * `lk.keys`: API keys (`/v1/api-keys`), their verification (`/v1/keys/verify`)
 * and what a key can do (`/v1/keys/explain`).
 */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf, Schemas } from '../core/types.js';

/** The codes of a verdict (`VerifyView.code`). */
export const VERIFY_CODES = [
  'VALID',
  'MALFORMED',
  'NOT_FOUND',
  'EXPIRED',
  'REVOKED',
  'DISABLED',
  'INSUFFICIENT_SCOPE',
  'RATE_LIMITED',
  'USAGE_EXCEEDED',
  'IP_NOT_ALLOWED',
] as const;

/** A verdict's code: `VALID` or why the key may not be used. */
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** The answer of `keys.verify`: whether the key may be used, and whose it is. */
export type Verdict = Omit<Schemas['VerifyView'], 'code'> & { code: VerifyCode };

/** An API key as the API shows it. */
export type ApiKey = Schemas['ApiKeyView'];

/** A line of `keys.export`: a key's metadata and hash (never its plaintext). */
export type ExportedApiKey = Schemas['ExportedApiKey'];

/** A key as `create` and `rotate` answer it: with its plaintext `key`, shown this once. */
export type CreatedApiKey = Omit<DataOf<'createApiKey'>, 'key'> & { key: string };

/** API keys: mint, list, inspect, change, rotate, revoke, delete, verify, explain. */
export class Keys extends APIResource {
  /** `createApiKey`: mints a key; its plaintext `key` is in this answer only. */
  create(body: BodyOf<'createApiKey'>, options?: RequestOptions): Promise<CreatedApiKey> {
    return this.data({ method: 'POST', path: '/v1/api-keys', body, options });
  }

  /**
   * `createApiKeys`: mints 1–1,000 keys at once, all or none (a refused item
   * refuses the batch; the error's message starts `keys[i]: `); each
   * plaintext `key` is in this answer only, in the order asked.
   */
  createBatch(body: BodyOf<'createApiKeys'>, options?: RequestOptions): Promise<CreatedApiKey[]> {
    return this.data({ method: 'POST', path: '/v1/api-keys/batch', body, options });
  }

  /**
   * `importApiKeys`: keys issued by another system, by the SHA-256 of their
   * plaintext (`hash: {algorithm: 'sha256', encoding, value}`), 1–10,000 at
   * once, all or none (a refused key refuses the import: `error.index` names
   * it). They verify by their hash from then on. Admins only.
   */
  importHashes(keys: BodyOf<'importApiKeys'>, options?: RequestOptions): Promise<DataOf<'importApiKeys'>> {
    return this.data({ method: 'POST', path: '/v1/api-keys/import', body: keys, options });
  }

  /**
   * `exportApiKeys`: every key of the organization (any status, newest
   * first), its metadata and hash, never a plaintext: the lines of the
   * server's JSON-lines answer, parsed. Admins only.
   */
  async export(query: QueryOf<'exportApiKeys'> = {}, options?: RequestOptions): Promise<ExportedApiKey[]> {
    const text = await this.transport.request<string>({
      method: 'GET',
      path: '/v1/api-keys/export',
      query,
      accept: 'text',
      options,
    });
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as ExportedApiKey);
  }

  /**
   * `verifyKey`: the verdict on a key (an invalid key is a verdict, not an
   * error). The caller needs `keys:verify`.
   */
  verify(body: BodyOf<'verifyKey'>, options?: RequestOptions): Promise<Verdict> {
    return this.data({ method: 'POST', path: '/v1/keys/verify', body, options });
  }

  /**
   * `explainKey`: what a key (`key` or `keyId`) can do and why: its status,
   * each permission of the catalog, its limits' windows, credits, networks
   * and key-policy compliance; with `scopes`, `projectId` or `ip`, the code
   * `verify` would answer. Nothing is counted or spent. The caller needs
   * `keys:verify`.
   */
  explain(body: BodyOf<'explainKey'>, options?: RequestOptions): Promise<DataOf<'explainKey'>> {
    return this.data({ method: 'POST', path: '/v1/keys/explain', body, options });
  }

  /** `listApiKeys`: the caller's keys (every member's with `allOrg`), newest first. */
  list(query: QueryOf<'listApiKeys'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listApiKeys'>> {
    return this.paged('/v1/api-keys', query, options);
  }

  /** `getApiKey`: one key. */
  get(id: string, options?: RequestOptions): Promise<DataOf<'getApiKey'>> {
    return this.data({ method: 'GET', path: path`/v1/api-keys/${id}`, options });
  }

  /** `updateApiKey`: changes name, limits or credits (absent fields are kept, `null` clears). */
  update(id: string, body: BodyOf<'updateApiKey'>, options?: RequestOptions): Promise<DataOf<'updateApiKey'>> {
    return this.data({ method: 'PATCH', path: path`/v1/api-keys/${id}`, body, options });
  }

  /** `rotateApiKey`: a successor key (shown once); the old one works for `gracePeriod`. */
  rotate(id: string, body: BodyOf<'rotateApiKey'> = {}, options?: RequestOptions): Promise<CreatedApiKey> {
    return this.data({ method: 'POST', path: path`/v1/api-keys/${id}/rotate`, body, options });
  }

  /** `revokeApiKey`: the key stops working now. */
  revoke(id: string, options?: RequestOptions): Promise<DataOf<'revokeApiKey'>> {
    return this.data({ method: 'POST', path: path`/v1/api-keys/${id}/revoke`, options });
  }

  /** `transferApiKey`: gives the key to another member or to the organization (admins). */
  transfer(id: string, body: BodyOf<'transferApiKey'>, options?: RequestOptions): Promise<DataOf<'transferApiKey'>> {
    return this.data({ method: 'POST', path: path`/v1/api-keys/${id}/transfer`, body, options });
  }

  /**
   * `reportApiKeyLeak`: the key was found where it should not be (admins):
   * it is revoked at once, or only flagged (`leakedAt`) when the
   * organization's `leakAction` is `flag`.
   */
  reportLeak(id: string, body: BodyOf<'reportApiKeyLeak'> = {}, options?: RequestOptions): Promise<DataOf<'reportApiKeyLeak'>> {
    return this.data({ method: 'POST', path: path`/v1/api-keys/${id}/report-leak`, body, options });
  }

  /** `deleteApiKey`: removes the key. */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/api-keys/${id}`, accept: 'none', options });
  }

  /** `getApiKeyUsage`: verifications per day by outcome. */
  usage(id: string, query: QueryOf<'getApiKeyUsage'> = {}, options?: RequestOptions): Promise<DataOf<'getApiKeyUsage'>> {
    return this.data({ method: 'GET', path: path`/v1/api-keys/${id}/usage`, query, options });
  }
}
