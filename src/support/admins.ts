/** Support and admin credentials: tokens stored as hashes, never a merchant key. */
import { randomBytes } from 'node:crypto';
import { AppError, validationError } from '@shahn/contract/core';
import type { Deps } from '../domain/deps.js';
import { hashApiKey, newObjectId } from '../lib/ids.js';
import { auditRecord } from './audit.js';
import { isUniqueViolation, type AdminRecord } from '../store/store.js';

export async function createAdmin(deps: Pick<Deps, 'store' | 'clock'>, options: { name: string }): Promise<{ name: string; token: string }> {
  const name = options.name.trim();
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw validationError('body', 'name', 'must be 1-64 letters, digits or . _ @ -', options.name, 'pattern');
  const token = `shahn_admin_${randomBytes(24).toString('base64url')}`;
  const now = deps.clock.now();
  try {
    await deps.store.accounts.createAdmin({ id: newObjectId(now), name, tokenHash: hashApiKey(token), isEnabled: true, createdAt: now });
  } catch (err) {
    if (isUniqueViolation(err)) throw validationError('body', 'name', 'is already taken', name, 'unique');
    throw err;
  }
  return { name, token };
}

export async function authenticateAdmin(deps: Pick<Deps, 'store'>, authorization: string | undefined): Promise<AdminRecord> {
  // The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer`, `BEARER`.
  const m = /^bearer +(\S{1,200}) *$/i.exec(authorization ?? '');
  if (!m?.[1]) throw new AppError('ADMIN_UNAUTHORIZED');
  const admin = await deps.store.accounts.findAdminByTokenHash(hashApiKey(m[1]));
  if (!admin || !admin.isEnabled) throw new AppError('ADMIN_UNAUTHORIZED', 'The admin token is invalid or disabled');
  return admin;
}

/**
 * Disable an admin (a leaked token or password): its token stops working at once (checked on every
 * admin request), its console sessions end, and its console login is refused. Enable undoes it.
 */
export async function setAdminEnabled(deps: Pick<Deps, 'store' | 'clock'>, options: { name: string; isEnabled: boolean; actor?: string; reason?: string }): Promise<AdminRecord> {
  const admin = await deps.store.accounts.findAdminByName(options.name.trim());
  if (!admin) throw validationError('body', 'name', 'is not an admin', options.name, 'unknown_admin');
  const now = deps.clock.now();
  await deps.store.accounts.setAdminEnabled(admin.id, options.isEnabled, auditRecord(now, options.actor ?? 'cli', options.isEnabled ? 'admin.enable' : 'admin.disable', admin.id, options.reason ?? '', { name: admin.name }));
  return { ...admin, isEnabled: options.isEnabled };
}
