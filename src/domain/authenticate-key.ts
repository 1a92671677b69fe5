/**
 * The key check every authenticated request goes through, in the contract's order:
 * missing key → blocked IP → unknown key (counts toward the block) → disabled → IP allow-list.
 */
import { AppError } from '@shahn/contract/core';
import type { KeyRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { makeIpMatcher, type IpMatcher } from '../lib/ip.js';

export async function authenticateKey(
  deps: Pick<Deps, 'keys' | 'bruteForce'>,
  options: { key: string | undefined; ip: string },
): Promise<KeyRecord> {
  const { key, ip } = options;
  if (key === undefined || key === '') throw new AppError('MISSING_ACCESS_TOKEN');
  const blocked = deps.bruteForce.blockedFor(ip);
  if (blocked > 0) throw new AppError('IP_BLOCKED', undefined, { retryAfter: blocked }, { 'retry-after': String(blocked) });

  const record = key.length <= 256 ? await deps.keys.find(key) : undefined;
  if (!record) {
    const failure = await deps.bruteForce.recordFailure(ip);
    if (failure.blockedFor > 0) throw new AppError('IP_BLOCKED', undefined, { retryAfter: failure.blockedFor }, { 'retry-after': String(failure.blockedFor) });
    throw new AppError('INVALID_ACCESS_TOKEN', undefined, { attemptsLeft: failure.attemptsLeft });
  }
  if (!record.isEnabled) throw new AppError('ACCESS_TOKEN_DISABLED');
  if (record.allowedIps.length > 0 && !ipAllowed(record.allowedIps, ip)) {
    throw new AppError('IP_NOT_ALLOWED', undefined, { ip });
  }
  return record;
}

/**
 * The same check without a store read, for the check-id hot path: the key when it is in the key
 * cache and usable from `ip` (enabled, the IP not blocked, allowed by the key's allow-list), else
 * undefined (the full check above then answers, with its error).
 */
export function usableCachedKey(deps: Pick<Deps, 'keys' | 'bruteForce'>, presented: string, ip: string): KeyRecord | undefined {
  const key = deps.keys.peek(presented);
  if (!key || !key.isEnabled || deps.bruteForce.blockedFor(ip) > 0) return undefined;
  if (key.allowedIps.length > 0 && !ipAllowed(key.allowedIps, ip)) return undefined;
  return key;
}

/** Matchers by allow-list (a key record's list is one array for as long as the record is cached). */
const matchers = new WeakMap<readonly string[], IpMatcher>();

/** Is `ip` in the allow-list (addresses and CIDR ranges; IPv4-mapped IPv6 addresses match their IPv4 form)? */
export function ipAllowed(allowed: readonly string[], ip: string): boolean {
  let match = matchers.get(allowed);
  if (!match) {
    match = makeIpMatcher(allowed);
    matchers.set(allowed, match);
  }
  return match(ip);
}
