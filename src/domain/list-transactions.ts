import type { PageQueryInput } from '@shahn/contract';
import type { Env } from '../store/store.js';
import type { Deps } from './deps.js';
import { toPage, toPageRequest } from './pagination.js';
import { presentTransaction } from './present.js';

/**
 * GET /v3/account/transactions: the merchant's ledger, newest first (the ledger's own order).
 * The ledger records production money only (the sandbox never moves any), and its notes name
 * production orders and customers' numbers: a SANDBOX key sees an empty ledger, with the query
 * still validated and the pagination shape intact, so sandbox and production never see each other.
 */
export async function listTransactions(deps: Pick<Deps, 'store'>, options: { merchantId: string; env: Env; query: PageQueryInput }) {
  const { req, info } = toPageRequest(options.query);
  const result = options.env === 'SANDBOX' ? { items: [], total: 0 } : await deps.store.ledger.listLedger(options.merchantId, req);
  return toPage(result, info, presentTransaction);
}
