import type { PageQueryInput } from '@shahn/contract';
import type { KeyRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { toPage, toPageRequest } from './pagination.js';
import { presentTopup } from './present.js';
import { readingTime } from './sandbox-clock.js';

/** GET /v3/mobile/list: the calling key's environment only, newest first. */
export async function listTopups(deps: Pick<Deps, 'store' | 'clock' | 'config'>, options: { key: KeyRecord; query: PageQueryInput }) {
  const { req, info } = toPageRequest(options.query);
  const result = await deps.store.orders.listOrders(options.key.merchantId, options.key.type, req);
  const now = await readingTime(deps, options.key.merchantId, options.key.type);
  return toPage(result, info, (o) => presentTopup(o, now, deps.config.sandbox));
}
