/** `lk.orgs`: organizations. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** Organizations the caller belongs to. */
export class Orgs extends APIResource {
  /** `listOrgs` */
  list(query: QueryOf<'listOrgs'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listOrgs'>> {
    return this.paged('/v1/orgs', query, options);
  }

  /** `createOrg`: a new organization with the session's user as admin. */
  create(body: BodyOf<'createOrg'>, options?: RequestOptions): Promise<DataOf<'createOrg'>> {
    return this.data({ method: 'POST', path: '/v1/orgs', body, options });
  }

  /** `getOrg` */
  get(id: string, options?: RequestOptions): Promise<DataOf<'getOrg'>> {
    return this.data({ method: 'GET', path: path`/v1/orgs/${id}`, options });
  }

  /** `updateOrg` (admins) */
  update(id: string, body: BodyOf<'updateOrg'>, options?: RequestOptions): Promise<DataOf<'updateOrg'>> {
    return this.data({ method: 'PATCH', path: path`/v1/orgs/${id}`, body, options });
  }

  /** `getKeyPolicy` (admins): the organization's key policy. */
  getKeyPolicy(id: string, options?: RequestOptions): Promise<DataOf<'getKeyPolicy'>> {
    return this.data({ method: 'GET', path: path`/v1/orgs/${id}/key-policy`, options });
  }

  /** `putKeyPolicy` (admins): replaces the key policy; existing keys are not changed. */
  putKeyPolicy(id: string, body: BodyOf<'putKeyPolicy'>, options?: RequestOptions): Promise<DataOf<'putKeyPolicy'>> {
    return this.data({ method: 'PUT', path: path`/v1/orgs/${id}/key-policy`, body, options });
  }

  /** `switchOrg`: the session's current organization. */
  switch(body: BodyOf<'switchOrg'>, options?: RequestOptions): Promise<DataOf<'switchOrg'>> {
    return this.data({ method: 'POST', path: '/v1/me/org', body, options });
  }
}
