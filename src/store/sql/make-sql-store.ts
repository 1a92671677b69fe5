/**
 * The store, written once for both databases: each area's operations over the dialect seam
 * (sql.ts). The databases differ only in their SqlDb: sqlite/sqlite-db.ts and postgres/postgres-db.ts.
 */
import type { OrdersStore, Store } from '../store.js';
import type { SqlDb } from '../sql.js';
import { makeAccountsStore } from './accounts.js';
import { makeCatalogueStore } from './catalogue.js';
import { makeConsoleStore } from './console.js';
import { makeGuardsStore } from './guards.js';
import { makeLedgerStore } from './ledger.js';
import { makeOrdersStore } from './orders.js';
import { makeAuditStore, makeChannelsStore, makeOutboxStore } from './outbox.js';
import { makeWebhookStore } from './webhooks.js';
import { makeProcessingStore } from './processing.js';
import { makeSandboxClockStore } from './sandbox-clocks.js';

export function makeSqlStore(db: SqlDb, options: { syncReads?: OrdersStore['syncReads'] } = {}): Store {
  return {
    kind: db.kind,
    migrate: () => db.migrate(),
    schemaVersion: () => db.schemaVersion(),
    ping: () => db.ping(),
    close: () => db.close(),
    ...(db.poolStats ? { poolStats: db.poolStats } : {}),
    orders: makeOrdersStore(db, options),
    processing: makeProcessingStore(db),
    ledger: makeLedgerStore(db),
    accounts: makeAccountsStore(db),
    catalogue: makeCatalogueStore(db),
    console: makeConsoleStore(db),
    guards: makeGuardsStore(db),
    outbox: makeOutboxStore(db),
    audit: makeAuditStore(db),
    channels: makeChannelsStore(db),
    webhooks: makeWebhookStore(db),
    sandboxClocks: makeSandboxClockStore(db, options.syncReads),
  };
}
