/** What every resource (`lk.keys`, `lk.projects`, …) is built on. */
import { paginate } from './pagination.js';
import type { PageBody, PagePromise } from './pagination.js';
import type { ApiRequest, RequestOptions, Transport } from './transport.js';

/** A group of methods over one transport. */
export abstract class APIResource {
  /** The client's transport. */
  protected readonly transport: Transport;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** Sends a request and returns the `data` of its `{"data": …}` answer. */
  protected async data<T>(req: ApiRequest): Promise<T> {
    return (await this.transport.request<{ data: T }>(req)).data;
  }

  /** A paged list: `query.cursor` is the first page's cursor, then `nextCursor` is followed. */
  protected paged<T>(
    path: string,
    query: { cursor?: string | undefined } & object,
    options: RequestOptions | undefined,
  ): PagePromise<T> {
    const { cursor, ...rest } = query;
    return paginate<T>(
      (c) => this.transport.request<PageBody<T>>({ method: 'GET', path, query: { ...rest, cursor: c }, options }),
      cursor,
    );
  }
}
