/** Merchants with their balances, oldest first (support). */
import type { Deps } from '../domain/deps.js';
import { toPage, toPageRequest } from '../domain/pagination.js';
import { centimesToDzd } from '../lib/money.js';

export async function listMerchants(deps: Pick<Deps, 'store'>, options: { page?: number; pageSize?: number }) {
  const { req, info } = toPageRequest({ page: options.page, pageSize: options.pageSize });
  const result = await deps.store.accounts.listMerchants(req);
  return toPage(result, info, (m) => ({ id: m.id, username: m.username, balance: centimesToDzd(m.balance), createdAt: new Date(m.createdAt).toISOString() }));
}
