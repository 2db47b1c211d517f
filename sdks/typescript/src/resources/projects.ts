/** `lk.projects`: projects, the grouping layer of an organization's keys. */
import type { PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, ItemOf, QueryOf } from '../core/types.js';

/** Projects of the caller's organization. */
export class Projects extends APIResource {
  /** `listProjects` */
  list(query: QueryOf<'listProjects'> = {}, options?: RequestOptions): PagePromise<ItemOf<'listProjects'>> {
    return this.paged('/v1/projects', query, options);
  }

  /** `createProject` */
  create(body: BodyOf<'createProject'>, options?: RequestOptions): Promise<DataOf<'createProject'>> {
    return this.data({ method: 'POST', path: '/v1/projects', body, options });
  }

  /** `getProject` */
  get(id: string, options?: RequestOptions): Promise<DataOf<'getProject'>> {
    return this.data({ method: 'GET', path: path`/v1/projects/${id}`, options });
  }

  /** `updateProject` */
  update(id: string, body: BodyOf<'updateProject'>, options?: RequestOptions): Promise<DataOf<'updateProject'>> {
    return this.data({ method: 'PATCH', path: path`/v1/projects/${id}`, body, options });
  }

  /** `deleteProject`: refused (409) while keys still belong to it. */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/v1/projects/${id}`, accept: 'none', options });
  }
}
