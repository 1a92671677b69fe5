/** A list call: `await` it for one page, or `for await` over every item of every page. */

export interface Pagination {
  page: number;
  pageSize: number;
  totalPages: number;
  totalResults: number;
}

export interface Page<T> {
  items: T[];
  pagination: Pagination;
}

export class PagePromise<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  private first: Promise<Page<T>> | undefined;

  constructor(
    private readonly fetchPage: (page: number, pinnedWindow: boolean) => Promise<Page<T>>,
    private readonly startPage: number,
  ) {}

  then<A = Page<T>, B = never>(onfulfilled?: ((value: Page<T>) => A | PromiseLike<A>) | null, onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.first ??= this.fetchPage(this.startPage, false);
    return this.first.then(onfulfilled, onrejected);
  }

  /**
   * Every item of every page, from the start page on. Without from/to, the time window is pinned to
   * the moment iteration starts, so orders created meanwhile do not shift the pages under it.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let p = this.startPage; ; p++) {
      const page = await this.fetchPage(p, true);
      yield* page.items;
      if (page.items.length === 0 || p >= page.pagination.totalPages) return;
    }
  }
}
