import type { ListQuery } from '../types.js';

/** The query of one page; when iterating without a window, pin it to now (from and to go together). */
export function pinnedQuery(query: ListQuery, page: number, pinned: boolean, now = new Date()): Record<string, string | number | undefined> {
  const q: Record<string, string | number | undefined> = { page, pageSize: query.pageSize, from: query.from, to: query.to };
  if (pinned && query.from === undefined && query.to === undefined) {
    q.from = '1970-01-01T00:00:00.000Z';
    q.to = now.toISOString();
  }
  return q;
}
