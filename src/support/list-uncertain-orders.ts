/** The support queue: production UNKNOWN_ERROR orders, oldest first, with their merchant and age. */
import type { Deps } from '../domain/deps.js';
import { readingTime } from '../domain/sandbox-clock.js';
import { toPage, toPageRequest } from '../domain/pagination.js';
import { presentTopup } from '../domain/present.js';
import type { OrderRecord } from '../store/store.js';

export async function presentSupportOrder(deps: Pick<Deps, 'store' | 'clock' | 'config'>, order: OrderRecord, usernames = new Map<string, string>()) {
  const now = deps.clock.now();
  let username = usernames.get(order.merchantId);
  if (username === undefined) {
    username = (await deps.store.accounts.findMerchantById(order.merchantId))?.username ?? '';
    usernames.set(order.merchantId, username);
  }
  return {
    ...presentTopup(order, order.env === 'SANDBOX' ? await readingTime(deps, order.merchantId, 'SANDBOX') : now, deps.config.sandbox),
    env: order.env,
    merchant: { id: order.merchantId, username },
    ageSeconds: Math.floor((now - order.createdAt) / 1000),
  };
}

/** Several orders for support, each merchant's username read once. */
export async function presentSupportOrders(deps: Pick<Deps, 'store' | 'clock' | 'config'>, orders: OrderRecord[]) {
  const usernames = new Map<string, string>();
  const items = [];
  for (const o of orders) items.push(await presentSupportOrder(deps, o, usernames));
  return items;
}

export async function listUncertainOrders(deps: Pick<Deps, 'store' | 'clock' | 'config'>, options: { page?: number; pageSize?: number }) {
  const { req, info } = toPageRequest({ page: options.page, pageSize: options.pageSize });
  const result = await deps.store.orders.listUncertainOrders(req);
  return toPage({ items: await presentSupportOrders(deps, result.items), total: result.total }, info, (x) => x);
}
