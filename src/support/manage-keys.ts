/** Keys, from support: create, enable/disable, rotate, allow-list. Every action audited; new keys shown once. */
import { AppError, validationError } from '@shahn/contract/core';
import { KEY_SCOPES, KEY_TYPES, type KeyScope, type KeyType } from '@shahn/contract/core';
import type { Deps } from '../domain/deps.js';
import { hashApiKey, newApiKey, newObjectId } from '../lib/ids.js';
import type { KeyRecord } from '../store/store.js';
import { auditRecord } from './audit.js';
import { parseIpRange } from '../lib/ip.js';

export interface KeyView {
  id: string;
  merchantId: string;
  username: string;
  type: KeyType;
  scope: KeyScope;
  isEnabled: boolean;
  allowedips: string[];
  createdAt: string;
}

export function presentKey(k: KeyRecord): KeyView {
  return {
    id: k.id,
    merchantId: k.merchantId,
    username: k.username,
    type: k.type,
    scope: k.scope,
    isEnabled: k.isEnabled,
    allowedips: k.allowedIps,
    createdAt: new Date(k.createdAt).toISOString(),
  };
}

/** An allow-list as written by a person: each entry parsed and normalised (lib/ip.ts), duplicates dropped. */
export function checkIps(ips: unknown): string[] {
  if (!Array.isArray(ips) || ips.length > 100) {
    throw validationError('body', 'allowedips', 'must be an array of at most 100 IPv4 or IPv6 addresses or CIDR ranges', ips, 'format');
  }
  const out: string[] = [];
  ips.forEach((ip: unknown, i) => {
    const range = typeof ip === 'string' ? parseIpRange(ip) : undefined;
    if (!range) {
      throw validationError('body', `allowedips/${i}`, 'must be an IPv4 or IPv6 address (like 198.51.100.7 or 2001:db8::7) or a CIDR range (like 198.51.100.0/24)', ip, 'format');
    }
    if (!out.includes(range.text)) out.push(range.text);
  });
  return out;
}

async function merchantByUsername(deps: Pick<Deps, 'store'>, username: string) {
  const m = await deps.store.accounts.findMerchantByUsername(username);
  if (!m) throw new AppError('NOT_FOUND', `Merchant '${username}' not found`);
  return m;
}

export async function listKeys(deps: Pick<Deps, 'store'>, options: { username: string }): Promise<KeyView[]> {
  const m = await merchantByUsername(deps, options.username);
  return (await deps.store.accounts.listKeys(m.id)).map(presentKey);
}

export async function createKey(
  deps: Pick<Deps, 'store' | 'clock'>,
  options: { actor: string; username: string; type: string; scope?: string; allowedips?: unknown; reason?: string },
): Promise<KeyView & { key: string }> {
  if (!(KEY_TYPES as readonly string[]).includes(options.type)) throw validationError('body', 'type', `must be one of ${KEY_TYPES.join(', ')}`, options.type, 'enum');
  const scope = options.scope ?? 'READ-WRITE';
  if (!(KEY_SCOPES as readonly string[]).includes(scope)) throw validationError('body', 'scope', `must be one of ${KEY_SCOPES.join(', ')}`, scope, 'enum');
  const allowedIps = options.allowedips === undefined ? [] : checkIps(options.allowedips);
  const m = await merchantByUsername(deps, options.username);
  const now = deps.clock.now();
  const key = newApiKey();
  const id = newObjectId(now);
  await deps.store.accounts.insertKeyWithAudit(
    m.id,
    { id, keyHash: hashApiKey(key), type: options.type as KeyType, scope: scope as KeyScope, isEnabled: true, allowedIps },
    now,
    auditRecord(now, options.actor, 'key.create', id, options.reason ?? '', { merchantId: m.id, type: options.type, scope }),
  );
  const created = await deps.store.accounts.findKeyById(id);
  if (!created) throw new AppError('INTERNAL_ERROR');
  return { ...presentKey(created), key };
}

async function existingKey(deps: Pick<Deps, 'store'>, keyId: string): Promise<KeyRecord> {
  const k = await deps.store.accounts.findKeyById(keyId);
  if (!k) throw new AppError('NOT_FOUND', `Key '${keyId}' not found`);
  return k;
}

export async function updateKey(
  deps: Pick<Deps, 'store' | 'clock' | 'keys'>,
  options: { actor: string; keyId: string; isEnabled?: boolean; allowedips?: unknown; reason?: string },
): Promise<KeyView> {
  const k = await existingKey(deps, options.keyId);
  const patch: { isEnabled?: boolean; allowedIps?: string[] } = {};
  if (options.isEnabled !== undefined) patch.isEnabled = options.isEnabled;
  if (options.allowedips !== undefined) patch.allowedIps = checkIps(options.allowedips);
  const now = deps.clock.now();
  const action = options.isEnabled === false ? 'key.disable' : options.isEnabled === true ? 'key.enable' : 'key.update';
  await deps.store.accounts.updateKey(k.id, patch, auditRecord(now, options.actor, action, k.id, options.reason ?? '', { ...patch }));
  deps.keys.invalidate(k.keyHash);
  return presentKey(await existingKey(deps, k.id));
}

/** Disable a key and issue its replacement (same merchant, type, scope and allow-list). */
export async function rotateKey(
  deps: Pick<Deps, 'store' | 'clock' | 'keys'>,
  options: { actor: string; keyId: string; reason?: string },
): Promise<KeyView & { key: string; replaces: string }> {
  const old = await existingKey(deps, options.keyId);
  const now = deps.clock.now();
  const key = newApiKey();
  const id = newObjectId(now);
  await deps.store.accounts.rotateKey(
    old.id,
    { id, keyHash: hashApiKey(key), type: old.type, scope: old.scope, isEnabled: true, allowedIps: old.allowedIps },
    now,
    auditRecord(now, options.actor, 'key.rotate', old.id, options.reason ?? '', { newKeyId: id }),
  );
  deps.keys.invalidate(old.keyHash);
  return { ...presentKey(await existingKey(deps, id)), key, replaces: old.id };
}
