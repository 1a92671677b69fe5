import type { PageQueryInput } from '@shahn/contract';
import type { Deps } from './deps.js';
import { toPage, toPageRequest } from './pagination.js';
import { presentTransaction } from './present.js';

/**
 * GET /v3/account/transactions: the merchant's ledger, newest first. The ledger is the real balance,
 * so a sandbox key sees the same entries (sandbox activity never adds any).
 */
export async function listTransactions(deps: Pick<Deps, 'store'>, options: { merchantId: string; query: PageQueryInput }) {
  const { req, info } = toPageRequest(options.query);
  const result = await deps.store.listLedger(options.merchantId, req);
  return toPage(result, info, presentTransaction);
}
