/** `lk.sessions`: a person's sign-in sessions. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { ItemOf, QueryOf } from '../core/types.js';

/** The calling person's sessions (a session caller). */
export class Sessions extends APIResource {
  /** `listSessions` */
  list(query: QueryOf<'listSessions'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listSessions'>> {
    return this.paged('/v1/sessions', query, options);
  }

  /** `revokeSession` */
  async revoke(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/sessions/${id}`, accept: 'none', options });
  }
}
