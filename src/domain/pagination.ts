/** The contract's pagination: page ≥ 1, pageSize 1..100, from and to both or neither, inclusive. */
import { validationError } from '@shahn/contract/core';
import type { PageQueryInput } from '@shahn/contract';
import type { PageRequest, PageResult } from '../store/store.js';

export interface PageInfo {
  page: number;
  pageSize: number;
}

export function toPageRequest(q: PageQueryInput): { req: PageRequest; info: PageInfo } {
  const page = q.page ?? 1;
  const pageSize = q.pageSize ?? 20;
  if ((q.from === undefined) !== (q.to === undefined)) {
    const missing = q.from === undefined ? 'from' : 'to';
    throw validationError('querystring', missing, `must be provided together with ${missing === 'from' ? 'to' : 'from'}`, undefined, 'from_and_to_together');
  }
  const req: PageRequest = { offset: (page - 1) * pageSize, limit: pageSize };
  if (q.from !== undefined && q.to !== undefined) {
    const from = Date.parse(q.from);
    const to = Date.parse(q.to);
    if (Number.isNaN(from)) throw validationError('querystring', 'from', 'must be an ISO 8601 date-time', q.from, 'format');
    if (Number.isNaN(to)) throw validationError('querystring', 'to', 'must be an ISO 8601 date-time', q.to, 'format');
    if (from > to) throw validationError('querystring', 'from', 'must not be after to', q.from, 'range');
    req.from = from;
    req.to = to;
  }
  return { req, info: { page, pageSize } };
}

export function toPage<R, T>(result: PageResult<R>, info: PageInfo, map: (r: R) => T) {
  return {
    items: result.items.map(map),
    pagination: {
      page: info.page,
      pageSize: info.pageSize,
      totalPages: Math.ceil(result.total / info.pageSize),
      totalResults: result.total,
    },
  };
}
