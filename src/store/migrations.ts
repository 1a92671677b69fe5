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
  /** The same schema and the same invariants, in PostgreSQL's dialect (PL/pgSQL triggers). */
  postgres: string;
}

const SANDBOX_CLOCK_SCHEMA = `
-- The sandbox test numbers 0600000004-07: how their timeline differs from the scenario in
-- sandbox_scenario they start as (domain/sandbox.ts).
ALTER TABLE orders ADD COLUMN sandbox_case TEXT CHECK (sandbox_case IS NULL OR (env = 'SANDBOX' AND sandbox_case IN ('LATE_FULFILLED', 'LATE_REFUNDED', 'OUTAGE', 'LOST_REPLY')));
-- Each merchant's sandbox clock: how far ahead of real time its sandbox is (never behind). No row: real time.
CREATE TABLE sandbox_clocks (
  merchant_id TEXT PRIMARY KEY REFERENCES merchants(id),
  offset_ms BIGINT NOT NULL CHECK (offset_ms >= 0),
  updated_at BIGINT NOT NULL
);
`;

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
    postgres: `
CREATE TABLE merchants (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
  created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  key_hash TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type IN ('SANDBOX', 'PRODUCTION')),
  scope TEXT NOT NULL CHECK (scope IN ('READ-WRITE', 'READ-ONLY')),
  is_enabled SMALLINT NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  allowed_ips TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL
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
  cost_ppm BIGINT CHECK (cost_ppm IS NULL OR cost_ppm > 0),
  is_enabled SMALLINT NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  min_amount BIGINT,
  max_amount BIGINT,
  amount BIGINT,
  is_menu SMALLINT NOT NULL DEFAULT 0 CHECK (is_menu IN (0, 1)),
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
  topup_amount BIGINT NOT NULL CHECK (topup_amount > 0),
  charge BIGINT NOT NULL CHECK (charge >= 0),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
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
  seq BIGSERIAL UNIQUE,
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  type TEXT NOT NULL CHECK (type IN ('DEPOSIT', 'FLEXY', 'REFUND-FLEXY')),
  operation TEXT NOT NULL CHECK (operation IN ('INCREMENT', 'DECREMENT')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  old_balance BIGINT NOT NULL CHECK (old_balance >= 0),
  new_balance BIGINT NOT NULL CHECK (new_balance >= 0),
  objid TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  time BIGINT NOT NULL,
  counter_account TEXT NOT NULL,
  CHECK ((operation = 'INCREMENT' AND new_balance = old_balance + amount)
      OR (operation = 'DECREMENT' AND new_balance = old_balance - amount)),
  CHECK ((type IN ('DEPOSIT', 'REFUND-FLEXY')) = (operation = 'INCREMENT'))
);
CREATE INDEX ledger_by_merchant_time ON ledger_entries(merchant_id, time DESC, id DESC);
CREATE INDEX ledger_by_merchant ON ledger_entries(merchant_id, seq);
CREATE UNIQUE INDEX ledger_one_charge_per_order ON ledger_entries(objid) WHERE type = 'FLEXY';
CREATE UNIQUE INDEX ledger_one_refund_per_order ON ledger_entries(objid) WHERE type = 'REFUND-FLEXY';

CREATE FUNCTION shahn_ledger_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.old_balance IS DISTINCT FROM (SELECT balance FROM merchants WHERE id = NEW.merchant_id) THEN
    RAISE EXCEPTION 'ledger entry does not start from the current balance';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_entry_starts_from_balance BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION shahn_ledger_before_insert();

CREATE FUNCTION shahn_ledger_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE merchants SET balance = NEW.new_balance WHERE id = NEW.merchant_id;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entry_moves_balance AFTER INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION shahn_ledger_after_insert();

CREATE FUNCTION shahn_balance_follows_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance IS DISTINCT FROM (SELECT new_balance FROM ledger_entries WHERE merchant_id = NEW.id ORDER BY seq DESC LIMIT 1) THEN
    RAISE EXCEPTION 'a balance moves only through a ledger entry';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER merchant_balance_follows_ledger BEFORE UPDATE OF balance ON merchants FOR EACH ROW EXECUTE FUNCTION shahn_balance_follows_ledger();

CREATE FUNCTION shahn_merchant_starts_at_zero() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance <> 0 THEN
    RAISE EXCEPTION 'a merchant starts with a zero balance; credit it through the ledger';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER merchant_starts_at_zero BEFORE INSERT ON merchants FOR EACH ROW EXECUTE FUNCTION shahn_merchant_starts_at_zero();

CREATE FUNCTION shahn_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'ledger entries are permanent'; END IF;
  RAISE EXCEPTION 'ledger entries are immutable';
END $$;
CREATE TRIGGER ledger_entries_are_immutable BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION shahn_ledger_immutable();
CREATE TRIGGER ledger_entries_are_not_truncated BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION shahn_ledger_immutable();
`,
  },
  {
    version: 2,
    name: 'order-processor-and-support',
    sqlite: `
-- The order processor: a claim is a lease; "call started" is recorded before the gateway is called.
ALTER TABLE orders ADD COLUMN lease_owner TEXT;
ALTER TABLE orders ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE orders ADD COLUMN call_started_at INTEGER;
ALTER TABLE orders ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN final_at INTEGER;
CREATE INDEX orders_claimable ON orders(not_before, created_at) WHERE status = 'PENDING' AND env = 'PRODUCTION';
CREATE INDEX orders_leased ON orders(lease_expires_at) WHERE status = 'HANDLING';

-- Transitions only along the lifecycle graph.
--   PENDING → HANDLING (claim); HANDLING → PENDING only if the call never started (recovery, or the
--   gateway said it did not send); HANDLING → FULFILLED | REFUNDED | UNKNOWN_ERROR;
--   UNKNOWN_ERROR → FULFILLED | REFUNDED; FULFILLED and REFUNDED are final.
--   A sandbox order is stored PENDING (its status is derived from its age): support may resolve it.
CREATE TRIGGER order_transitions_follow_the_lifecycle BEFORE UPDATE OF status ON orders
WHEN NEW.status IS NOT OLD.status AND NOT (
     (OLD.status = 'PENDING' AND NEW.status = 'HANDLING' AND OLD.env = 'PRODUCTION')
  OR (OLD.status = 'HANDLING' AND NEW.status = 'PENDING' AND OLD.call_started_at IS NULL)
  OR (OLD.status = 'HANDLING' AND NEW.status IN ('FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'))
  OR (OLD.status = 'UNKNOWN_ERROR' AND NEW.status IN ('FULFILLED', 'REFUNDED'))
  OR (OLD.status = 'PENDING' AND OLD.env = 'SANDBOX' AND NEW.status IN ('FULFILLED', 'REFUNDED'))
)
BEGIN
  SELECT RAISE(ABORT, 'illegal order transition');
END;

-- A production order that ends REFUNDED has had its charge returned, in the same transaction.
CREATE TRIGGER refunded_order_has_its_refund AFTER UPDATE OF status ON orders
WHEN NEW.status = 'REFUNDED' AND NEW.env = 'PRODUCTION' AND NEW.charge > 0
BEGIN
  SELECT RAISE(ABORT, 'a refunded production order needs its REFUND-FLEXY entry')
  WHERE NOT EXISTS (SELECT 1 FROM ledger_entries WHERE objid = NEW.id AND type = 'REFUND-FLEXY' AND amount = NEW.charge);
END;

-- A refund returns exactly the order's charge, and only for a production order of the same merchant.
CREATE TRIGGER refund_matches_its_order BEFORE INSERT ON ledger_entries
WHEN NEW.type = 'REFUND-FLEXY'
BEGIN
  SELECT RAISE(ABORT, 'a refund must return exactly the charge of a production order of the merchant')
  WHERE NOT EXISTS (
    SELECT 1 FROM orders WHERE id = NEW.objid AND merchant_id = NEW.merchant_id AND env = 'PRODUCTION' AND charge = NEW.amount
  ) OR NOT EXISTS (SELECT 1 FROM ledger_entries WHERE objid = NEW.objid AND type = 'FLEXY');
END;

-- Support and admin actions: who, when, what, why.
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_time ON audit_log(at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_log(target);
CREATE TRIGGER audit_is_append_only_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Alerts to support, written in the same transaction as the UNKNOWN_ERROR (an outbox), then delivered with retries.
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at INTEGER,
  last_error TEXT
);
CREATE INDEX alerts_due ON alerts(next_attempt_at) WHERE delivered_at IS NULL;

-- Support agents and admins: tokens stored as hashes.
CREATE TABLE admins (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  token_hash TEXT NOT NULL UNIQUE,
  is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  created_at INTEGER NOT NULL
);
`,
    postgres: `
ALTER TABLE orders ADD COLUMN lease_owner TEXT;
ALTER TABLE orders ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE orders ADD COLUMN call_started_at BIGINT;
ALTER TABLE orders ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN final_at BIGINT;
CREATE INDEX orders_claimable ON orders(not_before, created_at) WHERE status = 'PENDING' AND env = 'PRODUCTION';
CREATE INDEX orders_leased ON orders(lease_expires_at) WHERE status = 'HANDLING';

CREATE FUNCTION shahn_order_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT (
       (OLD.status = 'PENDING' AND NEW.status = 'HANDLING' AND OLD.env = 'PRODUCTION')
    OR (OLD.status = 'HANDLING' AND NEW.status = 'PENDING' AND OLD.call_started_at IS NULL)
    OR (OLD.status = 'HANDLING' AND NEW.status IN ('FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'))
    OR (OLD.status = 'UNKNOWN_ERROR' AND NEW.status IN ('FULFILLED', 'REFUNDED'))
    OR (OLD.status = 'PENDING' AND OLD.env = 'SANDBOX' AND NEW.status IN ('FULFILLED', 'REFUNDED'))
  ) THEN
    RAISE EXCEPTION 'illegal order transition';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER order_transitions_follow_the_lifecycle BEFORE UPDATE OF status ON orders
  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION shahn_order_transitions();

CREATE FUNCTION shahn_refunded_has_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_entries WHERE objid = NEW.id AND type = 'REFUND-FLEXY' AND amount = NEW.charge) THEN
    RAISE EXCEPTION 'a refunded production order needs its REFUND-FLEXY entry';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER refunded_order_has_its_refund AFTER UPDATE OF status ON orders
  FOR EACH ROW WHEN (NEW.status = 'REFUNDED' AND NEW.env = 'PRODUCTION' AND NEW.charge > 0) EXECUTE FUNCTION shahn_refunded_has_refund();

CREATE FUNCTION shahn_refund_matches_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM orders WHERE id = NEW.objid AND merchant_id = NEW.merchant_id AND env = 'PRODUCTION' AND charge = NEW.amount)
     OR NOT EXISTS (SELECT 1 FROM ledger_entries WHERE objid = NEW.objid AND type = 'FLEXY') THEN
    RAISE EXCEPTION 'a refund must return exactly the charge of a production order of the merchant';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refund_matches_its_order BEFORE INSERT ON ledger_entries
  FOR EACH ROW WHEN (NEW.type = 'REFUND-FLEXY') EXECUTE FUNCTION shahn_refund_matches_order();

CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_time ON audit_log(at DESC, id DESC);
CREATE INDEX audit_by_target ON audit_log(target);
CREATE FUNCTION shahn_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION shahn_audit_append_only();
CREATE TRIGGER audit_is_not_truncated BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION shahn_audit_append_only();

CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  delivered_at BIGINT,
  last_error TEXT
);
CREATE INDEX alerts_due ON alerts(next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE admins (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  token_hash TEXT NOT NULL UNIQUE,
  is_enabled SMALLINT NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
  created_at BIGINT NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'shared-guards',
    // State that must be shared by every API process of one store: failed key attempts per IP (the
    // brute-force block) and the live API processes (each enforces its share of a key's rate limit).
    sqlite: `
CREATE TABLE auth_failures (
  ip TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  first_failure_at INTEGER NOT NULL,
  blocked_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_failures_blocked ON auth_failures(blocked_until);
CREATE TABLE api_instances (
  id TEXT PRIMARY KEY,
  seen_at INTEGER NOT NULL
);
`,
    postgres: `
CREATE TABLE auth_failures (
  ip TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  first_failure_at BIGINT NOT NULL,
  blocked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_failures_blocked ON auth_failures(blocked_until);
CREATE TABLE api_instances (
  id TEXT PRIMARY KEY,
  seen_at BIGINT NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'console',
    // The web console: logins (an admin or a merchant, password hashed with scrypt), sessions (the
    // cookie's token stored as a SHA-256 hash, with the session's CSRF token), and an index for
    // support's search by phone number across merchants.
    sqlite: `
CREATE TABLE console_logins (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'merchant')),
  login TEXT NOT NULL UNIQUE,
  subject_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (role, subject_id)
);
CREATE TABLE console_sessions (
  token_hash TEXT PRIMARY KEY,
  login_id TEXT NOT NULL REFERENCES console_logins(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_login ON console_sessions(login_id);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
CREATE INDEX orders_by_mssidn ON orders(mssidn, created_at);
`,
    postgres: `
CREATE TABLE console_logins (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'merchant')),
  login TEXT NOT NULL UNIQUE,
  subject_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (role, subject_id)
);
CREATE TABLE console_sessions (
  token_hash TEXT PRIMARY KEY,
  login_id TEXT NOT NULL REFERENCES console_logins(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_login ON console_sessions(login_id);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
CREATE INDEX orders_by_mssidn ON orders(mssidn, created_at);
`,
  },
  {
    version: 5,
    name: 'narrow-status-index',
    // orders_by_status covered PENDING, HANDLING and UNKNOWN_ERROR, so every send and every processor
    // step wrote it; only support's list of uncertain orders reads it (the processor's claims and
    // recovery use orders_claimable and orders_leased). Now it holds the UNKNOWN_ERROR orders only,
    // in that list's order.
    sqlite: `
DROP INDEX orders_by_status;
CREATE INDEX orders_uncertain ON orders(created_at, id) WHERE status = 'UNKNOWN_ERROR';
`,
    postgres: `
DROP INDEX orders_by_status;
CREATE INDEX orders_uncertain ON orders(created_at, id) WHERE status = 'UNKNOWN_ERROR';
`,
  },
  {
    version: 6,
    name: 'final-time-index',
    // Support's charts across merchants (outcomes per hour, time to a final state) read orders by the
    // time they became final. Partial: a send writes no entry (final_at is NULL until the outcome).
    sqlite: `
CREATE INDEX orders_by_final ON orders(final_at) WHERE final_at IS NOT NULL;
`,
    postgres: `
CREATE INDEX orders_by_final ON orders(final_at) WHERE final_at IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'auth-failures-purge-index',
    // Expired failure rows are purged periodically by their first failure's time; the index keeps
    // that purge (and so the cost of a failed key) independent of how many rows the table holds.
    sqlite: `
CREATE INDEX auth_failures_first ON auth_failures(first_failure_at);
`,
    postgres: `
CREATE INDEX auth_failures_first ON auth_failures(first_failure_at);
`,
  },
  {
    version: 8,
    name: 'outbox',
    // One transactional outbox for everything that must leave the process because of a change: a
    // message is written in the same transaction as the change, then claimed by a dispatcher
    // (next_attempt_at moved past a lease) and delivered at least once. `kind` picks the dispatcher
    // (support alerts now), `topic` says what happened, `subject` what it is about. The alerts table
    // becomes the outbox's `alert` messages, delivered or not.
    sqlite: `
CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  topic TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at INTEGER,
  last_error TEXT
);
CREATE INDEX outbox_due ON outbox(kind, next_attempt_at) WHERE delivered_at IS NULL;
INSERT INTO outbox (id, kind, topic, subject, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
  SELECT id, 'alert', kind, order_id, payload, created_at, attempts, next_attempt_at, delivered_at, last_error FROM alerts;
DROP TABLE alerts;
`,
    postgres: `
CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  topic TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  delivered_at BIGINT,
  last_error TEXT
);
CREATE INDEX outbox_due ON outbox(kind, next_attempt_at) WHERE delivered_at IS NULL;
INSERT INTO outbox (id, kind, topic, subject, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
  SELECT id, 'alert', kind, order_id, payload, created_at, attempts, next_attempt_at, delivered_at, last_error FROM alerts;
DROP TABLE alerts;
`,
  },
  {
    version: 9,
    name: 'gateway-channels',
    sqlite: `
-- Where each production order's call went (a gateway channel: a SIM) and what its answer said, for
-- support and for matching confirmation messages to uncertain orders.
ALTER TABLE orders ADD COLUMN gateway_channel TEXT;
ALTER TABLE orders ADD COLUMN gateway_trace TEXT;
-- The channels of the gateways (a modem pool's SIMs) as the process that drives them last saw them,
-- so that every process (the console, /v3/ping) sees them.
CREATE TABLE gateway_channels (
  gateway TEXT NOT NULL,
  channel TEXT NOT NULL,
  operator TEXT NOT NULL,
  usable SMALLINT NOT NULL CHECK (usable IN (0, 1)),
  status TEXT NOT NULL,
  owner TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (gateway, channel)
);
`,
    postgres: `
-- Where each production order's call went (a gateway channel: a SIM) and what its answer said, for
-- support and for matching confirmation messages to uncertain orders.
ALTER TABLE orders ADD COLUMN gateway_channel TEXT;
ALTER TABLE orders ADD COLUMN gateway_trace TEXT;
-- The channels of the gateways (a modem pool's SIMs) as the process that drives them last saw them,
-- so that every process (the console, /v3/ping) sees them.
CREATE TABLE gateway_channels (
  gateway TEXT NOT NULL,
  channel TEXT NOT NULL,
  operator TEXT NOT NULL,
  usable SMALLINT NOT NULL CHECK (usable IN (0, 1)),
  status TEXT NOT NULL,
  owner TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (gateway, channel)
);
`,
  },
  {
    version: 10,
    name: 'calls-by-channel',
    sqlite: `
-- The calls of one channel (a SIM) by time: confirmation messages are matched against them, and a
-- SIM waits out a call left without its answer before it dials again.
CREATE INDEX orders_channel_calls ON orders(gateway_channel, call_started_at) WHERE gateway_channel IS NOT NULL;
`,
    postgres: `
-- The calls of one channel (a SIM) by time: confirmation messages are matched against them, and a
-- SIM waits out a call left without its answer before it dials again.
CREATE INDEX orders_channel_calls ON orders(gateway_channel, call_started_at) WHERE gateway_channel IS NOT NULL;
`,
  },
  {
    version: 11,
    name: 'webhooks',
    sqlite: `
-- Merchants' webhook endpoints (per environment), and the events of their orders: each event is
-- written in the same transaction as the order's change, with one outbox message (kind 'webhook')
-- per endpoint that takes it. An event keeps the order as it was then, so every attempt and every
-- replay sends the same body under the same id.
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  env TEXT NOT NULL CHECK (env IN ('PRODUCTION', 'SANDBOX')),
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  description TEXT,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_until INTEGER,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER,
  disabled_reason TEXT,
  failing_since INTEGER,
  deleted_at INTEGER
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints(merchant_id, env) WHERE deleted_at IS NULL;
CREATE TABLE webhook_events (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  env TEXT NOT NULL,
  order_id TEXT NOT NULL,
  type TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  resolved_by TEXT,
  snapshot TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX webhook_events_by_merchant ON webhook_events(merchant_id, env, created_at);
ALTER TABLE orders ADD COLUMN event_sequence INTEGER NOT NULL DEFAULT 0;
`,
    postgres: `
-- Merchants' webhook endpoints (per environment), and the events of their orders: each event is
-- written in the same transaction as the order's change, with one outbox message (kind 'webhook')
-- per endpoint that takes it. An event keeps the order as it was then, so every attempt and every
-- replay sends the same body under the same id.
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  env TEXT NOT NULL CHECK (env IN ('PRODUCTION', 'SANDBOX')),
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  description TEXT,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_until BIGINT,
  created_at BIGINT NOT NULL,
  disabled_at BIGINT,
  disabled_reason TEXT,
  failing_since BIGINT,
  deleted_at BIGINT
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints(merchant_id, env) WHERE deleted_at IS NULL;
CREATE TABLE webhook_events (
  id TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  env TEXT NOT NULL,
  order_id TEXT NOT NULL,
  type TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  resolved_by TEXT,
  snapshot TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX webhook_events_by_merchant ON webhook_events(merchant_id, env, created_at);
ALTER TABLE orders ADD COLUMN event_sequence INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 12,
    name: 'webhook attempts',
    sqlite: `
-- Every attempt to deliver a webhook message: when, how long, the endpoint's HTTP status and the
-- start of its answer (or why there was none), so a merchant can see what its endpoint said.
CREATE TABLE webhook_attempts (
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status INTEGER,
  response TEXT,
  error TEXT,
  PRIMARY KEY (message_id, attempt)
);
-- Webhook messages not yet delivered, per endpoint: the dispatcher claims each endpoint's due messages
-- up to its free slots, so one endpoint's deep backlog is never scanned to reach another's.
CREATE INDEX outbox_webhook_pending ON outbox(kind, subject, next_attempt_at) WHERE delivered_at IS NULL;
`,
    postgres: `
-- Every attempt to deliver a webhook message: when, how long, the endpoint's HTTP status and the
-- start of its answer (or why there was none), so a merchant can see what its endpoint said.
CREATE TABLE webhook_attempts (
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at BIGINT NOT NULL,
  duration_ms INTEGER NOT NULL,
  status INTEGER,
  response TEXT,
  error TEXT,
  PRIMARY KEY (message_id, attempt)
);
-- Webhook messages not yet delivered, per endpoint: the dispatcher claims each endpoint's due messages
-- up to its free slots, so one endpoint's deep backlog is never scanned to reach another's.
CREATE INDEX outbox_webhook_pending ON outbox(kind, subject, next_attempt_at) WHERE delivered_at IS NULL;
`,
  },
  {
    version: 13,
    name: 'sandbox clock',
    // The same text in both dialects.
    sqlite: SANDBOX_CLOCK_SCHEMA,
    postgres: SANDBOX_CLOCK_SCHEMA,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
