/** `lk.runloop`: the Runloop profile (`ak_` and `rk_` keys in Runloop's shapes). */
import { APIResource } from '../core/resource.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, ResponseOf } from '../core/types.js';

/** Runloop's key endpoints. */
export class Runloop extends APIResource {
  /** `createAPIKey`: a standard `ak_` key (`POST /v1/apikeys`), shown this once. */
  createApiKey(body: BodyOf<'createAPIKey'> = {}, options?: RequestOptions): Promise<ResponseOf<'createAPIKey'>> {
    return this.transport.request({ method: 'POST', path: '/v1/apikeys', body, options });
  }

  /** `createRestrictedKey`: an `rk_` key with resource × access-level scopes, shown this once. */
  createRestrictedKey(
    body: BodyOf<'createRestrictedKey'> = {},
    options?: RequestOptions,
  ): Promise<ResponseOf<'createRestrictedKey'>> {
    return this.transport.request({ method: 'POST', path: '/v1/restricted_keys', body, options });
  }
}
