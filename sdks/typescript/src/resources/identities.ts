/** `lk.identities`: the identities at identity providers linked to a person's account. */
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { DataOf } from '../core/types.js';

/** The calling person's linked identities (a session caller). */
export class Identities extends APIResource {
  /** `listMyIdentities`: oldest first. */
  list(options?: RequestOptions): Promise<DataOf<'listMyIdentities'>> {
    return this.data({ method: 'GET', path: '/v1/me/identities', options });
  }

  /** `unlinkMyIdentity`: refused (409 `last_sign_in_method`) for the only way an account without a password signs in. */
  async unlink(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/me/identities/${id}`, accept: 'none', options });
  }
}
