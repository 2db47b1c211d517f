/** `lk.secrets`: envelope-encrypted secrets, a member's own or organization-wide. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** The query of `secrets.resolve`; `names` may be a list. */
export type ResolveSecretsQuery = Omit<QueryOf<'resolveSecrets'>, 'names'> & { names: string | string[] };

/** Secrets: values are sent by `set` and leave only through `reveal` and `resolve`. */
export class Secrets extends APIResource {
  /** `putSecret`: creates or replaces a secret (optimistic concurrency with `version`). */
  set(name: string, body: BodyOf<'putSecret'>, options?: RequestOptions): Promise<DataOf<'putSecret'>> {
    return this.data({ method: 'PUT', path: path`/v1/secrets/${name}`, body, options });
  }

  /** `listSecrets`: names and metadata, never values. */
  list(query: QueryOf<'listSecrets'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listSecrets'>> {
    return this.paged('/v1/secrets', query, options);
  }

  /** `getSecret`: one secret's metadata. */
  get(name: string, query: QueryOf<'getSecret'> = {}, options?: RequestOptions): Promise<DataOf<'getSecret'>> {
    return this.data({ method: 'GET', path: path`/v1/secrets/${name}`, query, options });
  }

  /** `revealSecret`: the metadata and the value (audited). */
  reveal(name: string, query: QueryOf<'revealSecret'> = {}, options?: RequestOptions): Promise<DataOf<'revealSecret'>> {
    return this.data({ method: 'POST', path: path`/v1/secrets/${name}/reveal`, query, options });
  }

  /** `deleteSecret` */
  async delete(name: string, query: QueryOf<'deleteSecret'> = {}, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/secrets/${name}`, query, accept: 'none', options });
  }

  /** `resolveSecrets`: the values of several names, the member's own before the organization's. */
  resolve(query: ResolveSecretsQuery, options?: RequestOptions): Promise<DataOf<'resolveSecrets'>> {
    const names = Array.isArray(query.names) ? query.names.join(',') : query.names;
    return this.data({ method: 'GET', path: '/v1/secrets/resolve', query: { ...query, names }, options });
  }
}
