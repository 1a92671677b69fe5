import type { HttpCore } from '../internal/request.js';
import { PagePromise, type Page } from '../internal/page-promise.js';
import type { Balance, ListQuery, Transaction } from '../types.js';
import { pinnedQuery } from './pinned-query.js';

export class Account {
  constructor(private readonly http: HttpCore) {}

  /** GET /v3/account/balance */
  async balance(options: { signal?: AbortSignal } = {}): Promise<Balance> {
    return (await this.http.request<Balance>({ method: 'GET', path: '/v3/account/balance', retryConnectionErrors: true, ...options })).data;
  }

  /** GET /v3/account/transactions: await for one page, or `for await` over every entry. */
  transactions(query: ListQuery = {}): PagePromise<Transaction> {
    return new PagePromise(
      async (page, pinned) =>
        (await this.http.request<Page<Transaction>>({ method: 'GET', path: '/v3/account/transactions', query: pinnedQuery(query, page, pinned), retryConnectionErrors: true })).data,
      query.page ?? 1,
    );
  }
}
