/** `lk.sshKeys`: SSH public keys, a member's own or organization-wide. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** SSH public keys and the `authorized_keys` text OpenSSH reads. */
export class SshKeys extends APIResource {
  /** `listSshKeys` */
  list(query: QueryOf<'listSshKeys'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listSshKeys'>> {
    return this.paged('/v1/ssh-keys', query, options);
  }

  /** `createSshKey`: adds an OpenSSH public key. */
  create(body: BodyOf<'createSshKey'>, options?: RequestOptions): Promise<DataOf<'createSshKey'>> {
    return this.data({ method: 'POST', path: '/v1/ssh-keys', body, options });
  }

  /** `getAuthorizedKeys`: the `authorized_keys` file of a member (text). */
  authorizedKeys(query: QueryOf<'getAuthorizedKeys'> = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({ method: 'GET', path: '/v1/ssh-keys/authorized-keys', query, accept: 'text', options });
  }

  /** `setDefaultSshKey` */
  setDefault(id: string, options?: RequestOptions): Promise<DataOf<'setDefaultSshKey'>> {
    return this.data({ method: 'POST', path: path`/v1/ssh-keys/${id}/default`, options });
  }

  /** `deleteSshKey` */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/ssh-keys/${id}`, accept: 'none', options });
  }
}
