/**
 * Paged lists. A list method returns a {@link PagePromise}: `await` it for
 * the first page, or iterate it with `for await` for every item of every
 * page, following `nextCursor` until it is `null`.
 */

/** One page of a list: `{"data": […], "nextCursor": "…" | null}`. */
export interface PageBody<T> {
  data: T[];
  nextCursor?: string | null;
}

/** One page of a list, able to fetch the next. */
export class Page<T> implements AsyncIterable<T> {
  /** The items of this page, newest first. */
  readonly data: T[];
  /** The cursor of the next page; `null` on the last page. */
  readonly nextCursor: string | null;
  readonly #fetchPage: (cursor: string | undefined) => Promise<Page<T>>;

  constructor(body: PageBody<T>, fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
    this.data = body.data;
    this.nextCursor = body.nextCursor ?? null;
    this.#fetchPage = fetchPage;
  }

  /** Whether another page follows. */
  hasNextPage(): boolean {
    return this.nextCursor !== null;
  }

  /** Fetches the next page; throws when this is the last one. */
  getNextPage(): Promise<Page<T>> {
    if (this.nextCursor === null) return Promise.reject(new Error('no next page: nextCursor is null'));
    return this.#fetchPage(this.nextCursor);
  }

  /** The items of this page and of every page after it. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let page: Page<T> = this;
    for (;;) {
      yield* page.data;
      if (!page.hasNextPage()) return;
      page = await page.getNextPage();
    }
  }
}

/**
 * The answer of a list method: awaitable (the first page) and async-iterable
 * (every item). The first request is made when it is awaited or iterated.
 */
export class PagePromise<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  readonly #fetchPage: (cursor: string | undefined) => Promise<Page<T>>;
  readonly #cursor: string | undefined;
  #first: Promise<Page<T>> | undefined;

  constructor(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, cursor: string | undefined) {
    this.#fetchPage = fetchPage;
    this.#cursor = cursor;
  }

  #firstPage(): Promise<Page<T>> {
    this.#first ??= this.#fetchPage(this.#cursor);
    return this.#first;
  }

  /** The first page. */
  then<R1 = Page<T>, R2 = never>(
    onfulfilled?: ((page: Page<T>) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#firstPage().then(onfulfilled, onrejected);
  }

  /** The first page's failure, handled. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<Page<T> | R> {
    return this.#firstPage().catch(onrejected);
  }

  /** Runs `onfinally` once the first page is settled. */
  finally(onfinally?: (() => void) | null): Promise<Page<T>> {
    return this.#firstPage().finally(onfinally);
  }

  /** Every item of every page. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* await this.#firstPage();
  }

  /** Every page, the first included. */
  async *pages(): AsyncGenerator<Page<T>> {
    let page = await this.#firstPage();
    yield page;
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      yield page;
    }
  }
}

/** A {@link PagePromise} over `fetchBody`, which fetches one page by cursor. */
export function paginate<T>(
  fetchBody: (cursor: string | undefined) => Promise<PageBody<T>>,
  cursor: string | undefined,
): PagePromise<T> {
  const fetchPage = async (c: string | undefined): Promise<Page<T>> => new Page(await fetchBody(c), fetchPage);
  return new PagePromise(fetchPage, cursor);
}
