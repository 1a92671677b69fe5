/** A merchant with one SANDBOX and one PRODUCTION key (READ-WRITE, all IPs). Keys are returned once and stored as hashes. */
import { validationError } from '@shahn/contract/core';
import { USERNAME_PATTERN } from '@shahn/contract/core';
import { hashApiKey, newApiKey, newObjectId } from '../lib/ids.js';
import { dzdToCentimes } from '../lib/money.js';
import { ACCOUNTS, isUniqueViolation } from '../store/store.js';
import type { Deps } from './deps.js';
import { parseDzdAmount } from './parse-dzd-amount.js';

export interface CreatedMerchant {
  id: string;
  username: string;
  sandboxKey: string;
  productionKey: string;
}

export async function createMerchant(
  deps: Pick<Deps, 'store' | 'clock'>,
  options: { username: string; balance?: number | string },
): Promise<CreatedMerchant> {
  const username = options.username.trim();
  if (!new RegExp(USERNAME_PATTERN).test(username)) {
    throw validationError('body', 'username', 'must be an Algerian number in international form, like +213665983439', username, 'pattern');
  }
  const balance = options.balance === undefined ? 0 : dzdToCentimes(parseDzdAmount(options.balance, 'balance', true));
  if (await deps.store.accounts.findMerchantByUsername(username)) {
    throw validationError('body', 'username', 'is already taken', username, 'unique');
  }
  const now = deps.clock.now();
  const id = newObjectId(now);
  const sandboxKey = newApiKey();
  const productionKey = newApiKey();
  const key = (k: string, type: 'SANDBOX' | 'PRODUCTION') => ({
    id: newObjectId(now),
    keyHash: hashApiKey(k),
    type,
    scope: 'READ-WRITE' as const,
    isEnabled: true,
    allowedIps: [],
  });
  const depositId = newObjectId(now);
  try {
    await deps.store.accounts.createMerchant({
      merchant: { id, username, balance: 0, createdAt: now },
      keys: [key(sandboxKey, 'SANDBOX'), key(productionKey, 'PRODUCTION')],
      ...(balance > 0
        ? {
            deposit: {
              id: depositId,
              merchantId: id,
              type: 'DEPOSIT' as const,
              operation: 'INCREMENT' as const,
              amount: balance,
              oldBalance: 0,
              newBalance: balance,
              objid: depositId,
              note: 'Opening balance',
              time: now,
              counterAccount: ACCOUNTS.deposits,
            },
          }
        : {}),
    });
  } catch (err) {
    // Two creates at once: the second one loses the race on the UNIQUE constraint.
    if (isUniqueViolation(err)) throw validationError('body', 'username', 'is already taken', username, 'unique');
    throw err;
  }
  return { id, username, sandboxKey, productionKey };
}
