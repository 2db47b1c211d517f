/** `lk.webhooks`: endpoints that receive the organization's events (admins), signed as Standard Webhooks says. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf, ResponseOf } from '../core/types.js';

/** Webhook endpoints, their signing secrets, test events and deliveries. */
export class Webhooks extends APIResource {
  /** `listWebhooks` */
  list(query: QueryOf<'listWebhooks'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listWebhooks'>> {
    return this.paged('/v1/webhooks', query, options);
  }

  /** `createWebhook`: the answer holds the signing secret (`whsec_…`), shown once. */
  create(body: BodyOf<'createWebhook'>, options?: RequestOptions): Promise<ResponseOf<'createWebhook'>> {
    return this.transport.request({ method: 'POST', path: '/v1/webhooks', body, options });
  }

  /** `getWebhook` */
  get(id: string, options?: RequestOptions): Promise<DataOf<'getWebhook'>> {
    return this.data({ method: 'GET', path: path`/v1/webhooks/${id}`, options });
  }

  /** `updateWebhook`: URL, events, description, `enabled`. */
  update(id: string, body: BodyOf<'updateWebhook'>, options?: RequestOptions): Promise<DataOf<'updateWebhook'>> {
    return this.data({ method: 'PATCH', path: path`/v1/webhooks/${id}`, body, options });
  }

  /** `deleteWebhook` */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/webhooks/${id}`, accept: 'none', options });
  }

  /** `rotateWebhookSecret`: a new secret, shown once; the old one signs alongside for 24 h. */
  rotateSecret(id: string, options?: RequestOptions): Promise<ResponseOf<'rotateWebhookSecret'>> {
    return this.transport.request({ method: 'POST', path: path`/v1/webhooks/${id}/rotate-secret`, options });
  }

  /** `testWebhook`: queues a `webhook.test` event for this endpoint. */
  test(id: string, options?: RequestOptions): Promise<DataOf<'testWebhook'>> {
    return this.data({ method: 'POST', path: path`/v1/webhooks/${id}/test`, options });
  }

  /** `listWebhookDeliveries`: each with its attempts (time, status code, duration, error). */
  deliveries(id: string, query: QueryOf<'listWebhookDeliveries'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listWebhookDeliveries'>> {
    return this.paged(path`/v1/webhooks/${id}/deliveries`, query, options);
  }

  /** `retryWebhookDelivery`: attempts a delivery again now (same `webhook-id`). */
  retry(id: string, deliveryId: string, options?: RequestOptions): Promise<DataOf<'retryWebhookDelivery'>> {
    return this.data({ method: 'POST', path: path`/v1/webhooks/${id}/deliveries/${deliveryId}/retry`, options });
  }
}
