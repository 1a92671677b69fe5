/**
 * `shahn merchant-sync`: the merchant side's background process. Keeps the merchant's order store in
 * step with the API (poller + daily recheck of UNKNOWN_ERROR orders) and delivers each transition
 * once: as a POST to --hook-url (retried until a 2xx), or as a JSON line on stdout.
 */
import { openSqliteKitStore, SyncKit, type Hooks, type KitOrder } from '@shahn/merchant';
import { Shahn } from '@shahn/sdk';

export interface MerchantSyncOptions {
  store: string;
  key?: string;
  baseUrl?: string;
  hookUrl?: string;
  recheckCron: string;
  tickMs: string;
}

function hooksFor(hookUrl: string | undefined): Hooks {
  const deliver = async (event: string, order: KitOrder) => {
    const payload = { event, order };
    if (!hookUrl) {
      process.stdout.write(`${JSON.stringify(payload)}\n`);
      return;
    }
    const res = await fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`hook URL answered HTTP ${res.status}`);
  };
  return {
    onFulfilled: (o) => deliver('order.fulfilled', o),
    onRefunded: (o) => deliver('order.refunded', o),
    onUncertain: (o) => deliver('order.uncertain', o),
  };
}

export async function runMerchantSync(opts: MerchantSyncOptions) {
  const store = openSqliteKitStore(opts.store);
  await store.migrate();
  const client = new Shahn({ ...(opts.key ? { apiKey: opts.key } : {}), ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
  const log = (level: string) => (obj: object, msg?: string) => process.stderr.write(`${JSON.stringify({ level, msg, ...obj })}\n`);
  const kit = new SyncKit({
    client,
    store,
    hooks: hooksFor(opts.hookUrl),
    recheckCron: opts.recheckCron,
    tickMs: Math.max(100, Number(opts.tickMs) || 1000),
    logger: { warn: log('warn'), error: log('error') },
  });
  kit.start();
  process.stderr.write(`${JSON.stringify({ level: 'info', msg: 'merchant-sync started', store: opts.store, baseUrl: client.baseUrl, nextRecheck: kit.nextRecheck() })}\n`);
  return {
    app: { log: { info: log('info'), error: log('error') } },
    stop: async () => {
      await kit.stop();
      await store.close();
    },
  };
}
