/** Merchants, their keys, and admins. */
import type { AccountsStore, NewKey } from '../store.js';
import { KEY_COLUMNS, toAdmin, toKey, toMerchant, type AdminRow, type KeyRow, type MerchantRow } from '../rows.js';
import { all, one, run, type Op, type SqlDb } from '../sql.js';
import { insertAudit, insertLedger, page } from './common.js';

const KEYS = `SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id`;

function* insertKey(merchantId: string, key: NewKey, now: number): Op<void> {
  yield* run('INSERT INTO api_keys (id, merchant_id, key_hash, type, scope, is_enabled, allowed_ips, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    key.id, merchantId, key.keyHash, key.type, key.scope, key.isEnabled ? 1 : 0, JSON.stringify(key.allowedIps), now,
  ]);
}

/** A read of one row, mapped. */
function* oneOf<R, T>(sql: string, args: readonly unknown[], map: (r: R) => T): Op<T | undefined> {
  const r = yield* one<R>(sql, args);
  return r && map(r);
}

export function makeAccountsStore(db: SqlDb): AccountsStore {
  return {
    createMerchant: (input) =>
      db.transaction(function* () {
        const m = input.merchant;
        yield* run('INSERT INTO merchants (id, username, balance, created_at) VALUES ($1, $2, 0, $3)', [m.id, m.username, m.createdAt]);
        for (const key of input.keys) yield* insertKey(m.id, key, m.createdAt);
        if (input.deposit) yield* insertLedger(input.deposit);
      }),
    findMerchantByUsername: (username) => db.exec(oneOf('SELECT id, username, balance, created_at FROM merchants WHERE username = $1', [username], (r: MerchantRow) => toMerchant(r))),
    findMerchantById: (id) => db.exec(oneOf('SELECT id, username, balance, created_at FROM merchants WHERE id = $1', [id], (r: MerchantRow) => toMerchant(r))),
    countMerchants: async () => Number((await db.exec(one<{ n: number }>('SELECT COUNT(*) AS n FROM merchants')))?.n ?? 0),
    listMerchants: (req) => db.exec(page('merchants', 'TRUE', [], 'created_at', 'created_at ASC, id ASC', req, toMerchant)),

    findKeyByHash: (keyHash) => db.exec(oneOf(`${KEYS} WHERE k.key_hash = $1`, [keyHash], (r: KeyRow) => toKey(r))),
    findKeyById: (id) => db.exec(oneOf(`${KEYS} WHERE k.id = $1`, [id], (r: KeyRow) => toKey(r))),
    listKeys: async (merchantId) => (await db.exec(all<KeyRow>(`${KEYS} WHERE k.merchant_id = $1 ORDER BY k.created_at, k.id`, [merchantId]))).map(toKey),
    insertKeyWithAudit: (merchantId, key, now, audit) =>
      db.transaction(function* () {
        yield* insertKey(merchantId, key, now);
        yield* insertAudit(audit);
      }),
    updateKey: (id, patch, audit) =>
      db.transaction(function* () {
        const args: unknown[] = [];
        const sets: string[] = [];
        if (patch.isEnabled !== undefined) sets.push(`is_enabled = $${args.push(patch.isEnabled ? 1 : 0)}`);
        if (patch.allowedIps !== undefined) sets.push(`allowed_ips = $${args.push(JSON.stringify(patch.allowedIps))}`);
        if (patch.scope !== undefined) sets.push(`scope = $${args.push(patch.scope)}`);
        if (sets.length === 0) return (yield* one('SELECT 1 AS found FROM api_keys WHERE id = $1', [id])) !== undefined;
        const changed = (yield* one(`UPDATE api_keys SET ${sets.join(', ')} WHERE id = $${args.push(id)} RETURNING id`, args)) !== undefined;
        if (changed) yield* insertAudit(audit);
        return changed;
      }),
    rotateKey: (oldId, replacement, now, audit) =>
      db.transaction(function* () {
        const old = yield* one<{ merchant_id: string }>('SELECT merchant_id FROM api_keys WHERE id = $1 FOR UPDATE', [oldId]);
        if (!old) return false;
        yield* run('UPDATE api_keys SET is_enabled = 0 WHERE id = $1', [oldId]);
        yield* insertKey(old.merchant_id, replacement, now);
        yield* insertAudit(audit);
        return true;
      }),

    createAdmin: (a) =>
      db.exec(run('INSERT INTO admins (id, name, token_hash, is_enabled, created_at) VALUES ($1, $2, $3, $4, $5)', [a.id, a.name, a.tokenHash, a.isEnabled ? 1 : 0, a.createdAt])).then(() => undefined),
    findAdminByTokenHash: (h) => db.exec(oneOf('SELECT * FROM admins WHERE token_hash = $1', [h], (r: AdminRow) => toAdmin(r))),
    findAdminByName: (name) => db.exec(oneOf('SELECT * FROM admins WHERE name = $1', [name], (r: AdminRow) => toAdmin(r))),
    findAdminById: (id) => db.exec(oneOf('SELECT * FROM admins WHERE id = $1', [id], (r: AdminRow) => toAdmin(r))),
    setAdminEnabled: (id, isEnabled, audit) =>
      db.transaction(function* () {
        yield* run('UPDATE admins SET is_enabled = $1 WHERE id = $2', [isEnabled ? 1 : 0, id]);
        if (!isEnabled) yield* run(`DELETE FROM console_sessions WHERE login_id IN (SELECT id FROM console_logins WHERE role = 'admin' AND subject_id = $1)`, [id]);
        yield* insertAudit(audit);
      }),
  };
}
