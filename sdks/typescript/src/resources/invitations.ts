/** `lk.invitations`: invitations to join an organization. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** Invitations: admins create and revoke them, people accept them with a session. */
export class Invitations extends APIResource {
  /** `listInvitations` (admins) */
  list(query: QueryOf<'listInvitations'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listInvitations'>> {
    return this.paged('/v1/invitations', query, options);
  }

  /** `createInvitation` (admins): its token is in this answer only. */
  create(body: BodyOf<'createInvitation'>, options?: RequestOptions): Promise<DataOf<'createInvitation'>> {
    return this.data({ method: 'POST', path: '/v1/invitations', body, options });
  }

  /** `acceptInvitation`: joins with the invitation's token (a session). */
  accept(body: BodyOf<'acceptInvitation'>, options?: RequestOptions): Promise<DataOf<'acceptInvitation'>> {
    return this.data({ method: 'POST', path: '/v1/invitations/accept', body, options });
  }

  /** `acceptInvitationInPath`: joins with the invitation's token in the path (a session). */
  acceptByToken(token: string, options?: RequestOptions): Promise<DataOf<'acceptInvitationInPath'>> {
    return this.data({ method: 'POST', path: path`/v1/invitations/${token}/accept`, options });
  }

  /** `revokeInvitation` (admins) */
  async revoke(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/invitations/${id}`, accept: 'none', options });
  }
}
