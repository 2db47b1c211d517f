/** `lk.members`: the people of the caller's organization. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** Members and their roles. */
export class Members extends APIResource {
  /** `listMembers` */
  list(query: QueryOf<'listMembers'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listMembers'>> {
    return this.paged('/v1/members', query, options);
  }

  /** `updateMember`: changes a member's role (admins). */
  update(userId: string, body: BodyOf<'updateMember'>, options?: RequestOptions): Promise<DataOf<'updateMember'>> {
    return this.data({ method: 'PATCH', path: path`/v1/members/${userId}`, body, options });
  }

  /** `removeMember`: the member leaves the organization; their keys stop working (admins). */
  async remove(userId: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/members/${userId}`, accept: 'none', options });
  }
}
