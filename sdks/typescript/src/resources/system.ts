/** `lk.system`: health, readiness, metrics, and the API's own document and reference. */
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';

/** The server's own endpoints (no credential needed, except `/metrics` when it has a token). */
export class System extends APIResource {
  /** `getHealth`: the process is up (`{"status": "ok"}`). */
  health(options?: RequestOptions): Promise<Record<string, unknown>> {
    return this.transport.request({ method: 'GET', path: '/healthz', options });
  }

  /** `getReadiness`: the process and its database (and Redis) can serve; a 503 otherwise. */
  readiness(options?: RequestOptions): Promise<Record<string, unknown>> {
    return this.transport.request({ method: 'GET', path: '/readyz', options });
  }

  /** `getMetrics`: Prometheus metrics (text). */
  metrics(options?: RequestOptions): Promise<string> {
    return this.transport.request({ method: 'GET', path: '/metrics', accept: 'text', options });
  }

  /** `getOpenApiDocument`: the OpenAPI document the server was built with. */
  openapi(options?: RequestOptions): Promise<Record<string, unknown>> {
    return this.transport.request({ method: 'GET', path: '/openapi.json', options });
  }

  /** `getApiReference`: the API reference page (HTML). */
  apiReference(options?: RequestOptions): Promise<string> {
    return this.transport.request({ method: 'GET', path: '/docs', accept: 'text', options });
  }

  /** `getApiReferenceFile`: one file of the reference viewer (bytes). */
  apiReferenceFile(file: string, options?: RequestOptions): Promise<Uint8Array> {
    return this.transport.request({ method: 'GET', path: path`/docs/${file}`, accept: 'bytes', options });
  }
}
