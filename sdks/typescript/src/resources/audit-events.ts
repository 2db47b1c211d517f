/** `lk.auditEvents`: the organization's audit trail (admins). */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import type { RequestOptions } from '../core/transport.js';
import type { ItemOf, QueryOf } from '../core/types.js';

/** The audit trail, newest first. */
export class AuditEvents extends APIResource {
  /** `listAuditEvents` */
  list(query: QueryOf<'listAuditEvents'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listAuditEvents'>> {
    return this.paged('/v1/audit-events', query, options);
  }
}
