/**
 * Schema migrations, in order. The money invariants live here as constraints and triggers,
 * not only in code paths:
 * - a balance never goes below zero (CHECK);
 * - every ledger entry's new balance is its old balance ± its amount (CHECK);
 * - a ledger entry must start from the merchant's current balance, and the balance becomes its
 *   new balance (triggers): the balance is always the sum of the entries;
 * - one charge per order and at most one refund (partial unique indexes);
 * - (merchant, environment, ref) is unique.
 */

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'init',
    sqlite: `
CREATE TABLE merchants (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  key_hash TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type IN ('SANDBOX', 'PRODUCTION')),
  scope TEXT NOT NULL CHECK (scope IN ('READ-WRITE', 'READ-ONLY')),
  is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  allowed_ips TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_merchant ON api_keys(merchant_id);

CREATE TABLE operators (
  name TEXT PRIMARY KEY,
  prefixes TEXT NOT NULL,
  health_key TEXT NOT NULL CHECK (health_key IN ('mobilis', 'djezzy', 'ooredoo', 'mobilisFixedPlans'))
);

CREATE TABLE plans (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  operator TEXT NOT NULL REFERENCES operators(name),
  kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'fixed')),
  cost_ppm INTEGER CHECK (cost_ppm IS NULL OR cost_ppm > 0),
  is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  min_amount INTEGER,
  max_amount INTEGER,
  amount INTEGER,
  is_menu INTEGER NOT NULL DEFAULT 0 CHECK (is_menu IN (0, 1)),
  position INTEGER NOT NULL DEFAULT 0,
  CHECK ((kind = 'dynamic' AND min_amount IS NOT NULL AND max_amount IS NOT NULL AND min_amount <= max_amount)
      OR (kind = 'fixed' AND amount IS NOT NULL AND amount > 0))
);

CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  env TEXT NOT NULL CHECK (env IN ('SANDBOX', 'PRODUCTION')),
  ref TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR')),
  plan_code TEXT NOT NULL,
  mssidn TEXT NOT NULL,
  topup_amount INTEGER NOT NULL CHECK (topup_amount > 0),
  charge INTEGER NOT NULL CHECK (charge >= 0),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  refund_message TEXT,
  suggested_offers TEXT,
  follow_orderid TEXT,
  retry_orderid TEXT,
  sandbox_scenario TEXT CHECK (sandbox_scenario IS NULL OR sandbox_scenario IN ('FULFILLED', 'REFUND', 'SUGGEST', 'UNKNOWN', 'MENU')),
  CHECK ((env = 'SANDBOX') = (sandbox_scenario IS NOT NULL)),
  UNIQUE (merchant_id, env, ref)
);
CREATE INDEX orders_by_merchant_time ON orders(merchant_id, env, created_at DESC, id DESC);
CREATE INDEX orders_by_status ON orders(status, created_at) WHERE status IN ('PENDING', 'HANDLING', 'UNKNOWN_ERROR');

CREATE TABLE ledger_entries (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  type TEXT NOT NULL CHECK (type IN ('DEPOSIT', 'FLEXY', 'REFUND-FLEXY')),
  operation TEXT NOT NULL CHECK (operation IN ('INCREMENT', 'DECREMENT')),
  amount INTEGER NOT NULL CHECK (amount > 0),
  old_balance INTEGER NOT NULL CHECK (old_balance >= 0),
  new_balance INTEGER NOT NULL CHECK (new_balance >= 0),
  objid TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  time INTEGER NOT NULL,
  counter_account TEXT NOT NULL,
  CHECK ((operation = 'INCREMENT' AND new_balance = old_balance + amount)
      OR (operation = 'DECREMENT' AND new_balance = old_balance - amount)),
  CHECK ((type IN ('DEPOSIT', 'REFUND-FLEXY')) = (operation = 'INCREMENT'))
);
CREATE INDEX ledger_by_merchant_time ON ledger_entries(merchant_id, time DESC, id DESC);
CREATE UNIQUE INDEX ledger_one_charge_per_order ON ledger_entries(objid) WHERE type = 'FLEXY';
CREATE UNIQUE INDEX ledger_one_refund_per_order ON ledger_entries(objid) WHERE type = 'REFUND-FLEXY';

CREATE TRIGGER ledger_entry_starts_from_balance BEFORE INSERT ON ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entry does not start from the current balance')
  WHERE NEW.old_balance IS NOT (SELECT balance FROM merchants WHERE id = NEW.merchant_id);
END;

CREATE TRIGGER ledger_entry_moves_balance AFTER INSERT ON ledger_entries
BEGIN
  UPDATE merchants SET balance = NEW.new_balance WHERE id = NEW.merchant_id;
END;

CREATE INDEX ledger_by_merchant ON ledger_entries(merchant_id);

-- The balance moves only through the ledger: it must equal the newest entry's new balance.
CREATE TRIGGER merchant_balance_follows_ledger BEFORE UPDATE OF balance ON merchants
BEGIN
  SELECT RAISE(ABORT, 'a balance moves only through a ledger entry')
  WHERE NEW.balance IS NOT (SELECT new_balance FROM ledger_entries WHERE merchant_id = NEW.id ORDER BY rowid DESC LIMIT 1);
END;

CREATE TRIGGER merchant_starts_at_zero BEFORE INSERT ON merchants
BEGIN
  SELECT RAISE(ABORT, 'a merchant starts with a zero balance; credit it through the ledger')
  WHERE NEW.balance != 0;
END;

CREATE TRIGGER ledger_entries_are_immutable BEFORE UPDATE ON ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are immutable');
END;

CREATE TRIGGER ledger_entries_are_permanent BEFORE DELETE ON ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are permanent');
END;
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
