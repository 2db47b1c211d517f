/** `lk.workspaces`: storage spaces, mount decisions, presigned URLs for their files. */
import type { PagePromise } from '../core/pagination.js';
import { MountGrantVerifier } from '../grants.js';
import type { MountGrantClaims, VerifyGrantOptions } from '../grants.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf, ResponseOf } from '../core/types.js';

/** The organization's and its members' workspaces (files live in the platform's object store). */
export class Workspaces extends APIResource {
  /** The verifier of {@link verifyGrant}, with the published keys it fetched. */
  private grantVerifier: MountGrantVerifier | undefined;

  /** `listWorkspaces`: the organization's and the caller's own (`allOrg`, admins: every member's). */
  list(query: QueryOf<'listWorkspaces'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listWorkspaces'>> {
    return this.paged('/v1/workspaces', query, options);
  }

  /** `createWorkspace`: `kind: 'org'` (admins) or `'personal'`. */
  create(body: BodyOf<'createWorkspace'>, options?: RequestOptions): Promise<DataOf<'createWorkspace'>> {
    return this.data({ method: 'POST', path: '/v1/workspaces', body, options });
  }

  /** `getWorkspace` */
  get(id: string, options?: RequestOptions): Promise<DataOf<'getWorkspace'>> {
    return this.data({ method: 'GET', path: path`/v1/workspaces/${id}`, options });
  }

  /** `updateWorkspace`: name, project, quota. */
  update(id: string, body: BodyOf<'updateWorkspace'>, options?: RequestOptions): Promise<DataOf<'updateWorkspace'>> {
    return this.data({ method: 'PATCH', path: path`/v1/workspaces/${id}`, body, options });
  }

  /** `deleteWorkspace`: refused (409 `workspace_not_empty`) while the store holds its files. */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/workspaces/${id}`, accept: 'none', options });
  }

  /** `decideWorkspaceMount`: may a sandbox mount it? Allowed: a signed grant. */
  mount(id: string, body: BodyOf<'decideWorkspaceMount'>, options?: RequestOptions): Promise<DataOf<'decideWorkspaceMount'>> {
    return this.data({ method: 'POST', path: path`/v1/workspaces/${id}/mounts`, body, options });
  }

  /** `getWorkspaceGrantKeys`: the JWK Set that verifies mount grants (public). */
  grantKeys(options?: RequestOptions): Promise<ResponseOf<'getWorkspaceGrantKeys'>> {
    return this.transport.request({ method: 'GET', path: '/v1/workspaces/grant-keys', options });
  }

  /**
   * Verifies a mount grant offline, as the sandbox runtime does before it
   * mounts: the signature with the published key of its `kid` (the key set
   * is fetched once and kept for 5 minutes; fetched again when a grant names
   * a key it does not hold, at most every 30 s), the audience, the expiry
   * against `now`, and, when given, that it names `sandboxId`. Resolves with
   * the claims; rejects with a `MountGrantError` (its `reason` says why).
   */
  verifyGrant(grant: string, options: VerifyGrantOptions = {}): Promise<MountGrantClaims> {
    this.grantVerifier ??= new MountGrantVerifier(() => this.grantKeys());
    return this.grantVerifier.verify(grant, options);
  }

  /** `presignWorkspaceObject`: a URL to GET, PUT or DELETE one object. */
  presign(id: string, body: BodyOf<'presignWorkspaceObject'>, options?: RequestOptions): Promise<DataOf<'presignWorkspaceObject'>> {
    return this.data({ method: 'POST', path: path`/v1/workspaces/${id}/presign`, body, options });
  }

  /** `listWorkspaceFiles`: its objects, by path. */
  files(id: string, query: QueryOf<'listWorkspaceFiles'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listWorkspaceFiles'>> {
    return this.paged(path`/v1/workspaces/${id}/files`, query, options);
  }
}
