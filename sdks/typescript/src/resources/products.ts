/**
 * `lk.products`: the Runtype profile (`/v1/products/…`): products, their
 * surfaces, and surface keys (`sk_live_…`/`sk_test_…`) in Runtype's shapes.
 */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, ItemOf, QueryOf, ResponseOf } from '../core/types.js';

/** A product's surfaces and their keys. */
export class Surfaces extends APIResource {
  /** `listSurfaces` */
  list(
    productId: string,
    query: QueryOf<'listSurfaces'> = {},
    options?: RequestOptions,
  ): PagePromise<ItemOf<'listSurfaces'>> {
    return this.paged(path`/v1/products/${productId}/surfaces`, query, options);
  }

  /** `createSurface` */
  create(productId: string, body: BodyOf<'createSurface'>, options?: RequestOptions): Promise<ResponseOf<'createSurface'>> {
    return this.transport.request({ method: 'POST', path: path`/v1/products/${productId}/surfaces`, body, options });
  }

  /** `getSurface` */
  get(productId: string, surfaceId: string, options?: RequestOptions): Promise<ResponseOf<'getSurface'>> {
    return this.transport.request({ method: 'GET', path: path`/v1/products/${productId}/surfaces/${surfaceId}`, options });
  }

  /** `createSurfaceKey`: a surface key, shown this once. */
  createKey(
    productId: string,
    surfaceId: string,
    body?: BodyOf<'createSurfaceKey'>,
    options?: RequestOptions,
  ): Promise<ResponseOf<'createSurfaceKey'>> {
    return this.transport.request({
      method: 'POST',
      path: path`/v1/products/${productId}/surfaces/${surfaceId}/keys`,
      body,
      options,
    });
  }
}

/** Runtype products. */
export class Products extends APIResource {
  /** A product's surfaces. */
  readonly surfaces: Surfaces = new Surfaces(this.transport);

  /** `listProducts` */
  list(query: QueryOf<'listProducts'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listProducts'>> {
    return this.paged('/v1/products', query, options);
  }

  /** `createProduct` */
  create(body: BodyOf<'createProduct'>, options?: RequestOptions): Promise<ResponseOf<'createProduct'>> {
    return this.transport.request({ method: 'POST', path: '/v1/products', body, options });
  }

  /** `getProduct` */
  get(id: string, options?: RequestOptions): Promise<ResponseOf<'getProduct'>> {
    return this.transport.request({ method: 'GET', path: path`/v1/products/${id}`, options });
  }
}
