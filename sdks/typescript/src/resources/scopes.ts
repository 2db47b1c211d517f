/** `lk.scopes`: the scope catalogue. */
import { APIResource } from '../core/resource.js';
import type { RequestOptions } from '../core/transport.js';
import type { DataOf } from '../core/types.js';

/** The scopes a key may hold. */
export class Scopes extends APIResource {
  /** `listScopes` */
  list(options?: RequestOptions): Promise<DataOf<'listScopes'>> {
    return this.data({ method: 'GET', path: '/v1/scopes', options });
  }
}
