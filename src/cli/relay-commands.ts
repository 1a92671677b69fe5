/** `shahn reconcile`: the relayed orders of a window compared with the upstream's orders and debits. */
import { Shahn } from '@shahn/sdk';
import type { Config } from '../config.js';
import { loadGatewaysFile } from '../gateways/gateways-config.js';
import { reconcileRelay, type ReconcileResult } from '../gateways/relay/reconcile.js';
import { openReadyStore } from '../runtime/open-store.js';
import { reconcileSource } from '../runtime/gateways.js';
import { UsageError } from './cli-errors.js';

export interface ReconcileOptions {
  from?: string;
  to?: string;
  gateway?: string;
  json?: boolean;
}

function time(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new UsageError(`--${name} must be a date and time (2026-12-01T00:00:00Z), got ${text}`);
  return t;
}

/** Runs the comparison for every relay gateway (or the one named); true when nothing differs. */
export async function reconcileCommand(config: Config, opts: ReconcileOptions): Promise<boolean> {
  if (!config.gateways) throw new UsageError('reconcile compares relay gateways: set SHAHN_GATEWAYS to the gateways file that names them');
  const cfg = loadGatewaysFile(config.gateways, config.secret);
  const relays = Object.entries(cfg.gateways).filter(([name, g]) => g.type === 'relay' && (opts.gateway === undefined || name === opts.gateway));
  if (relays.length === 0) throw new UsageError(opts.gateway ? `${cfg.source} has no relay gateway named ${opts.gateway}` : `${cfg.source} has no relay gateway`);
  const to = time(opts.to, 'to', Date.now());
  const from = time(opts.from, 'from', to - 86_400_000);
  if (from >= to) throw new UsageError('--from must come before --to');
  const { store } = await openReadyStore(config);
  const results: ReconcileResult[] = [];
  try {
    for (const [name, g] of relays) {
      if (g.type !== 'relay') continue;
      const client = new Shahn({ apiKey: g.apiKey, baseUrl: g.baseUrl, timeoutMs: g.requestTimeoutMs, maxRetries: 2 });
      results.push(await reconcileRelay(name, client, reconcileSource(store, name), from, to));
    }
  } finally {
    await store.close();
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(results.length === 1 ? results[0] : results)}\n`);
  } else {
    for (const r of results) {
      process.stdout.write(`${r.gateway}: ${r.from} to ${r.to}: ${r.localOrders} relayed order(s) here, ${r.upstreamOrders} of ours upstream, ${r.mismatches.length} mismatch(es)\n`);
      for (const m of r.mismatches) process.stdout.write(`  ${m.kind.padEnd(16)} ${m.ref}  ${m.detail}\n`);
    }
  }
  return results.every((r) => r.mismatches.length === 0);
}
