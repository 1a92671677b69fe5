/** `shahn topup send` and `shahn topup status`: a person at a terminal, talking HTTP to shahn. */
import { FINAL_STATUSES, type TopupStatus } from '@shahn/contract/core';
import type { TopupOut } from '@shahn/contract';

import { CliHttpError } from './cli-errors.js';
import { baseUrl, call, type ServerOptions } from './http-client.js';

export { CliHttpError };

interface CommonOpts extends ServerOptions {
  wait: boolean;
  interval: string;
  json?: boolean;
}

function describe(t: TopupOut): string {
  const parts = [`${t._id}  ${t.status.padEnd(13)} ${t.plan_code} ${t.MSSIDN} ${t.topup_amount} DZD (cost ${t.balance_amount} DZD)`];
  if (t.refund_message) parts.push(`  message: ${t.refund_message}`);
  if (t.suggested_offers) {
    for (const o of t.suggested_offers) parts.push(`  suggested: ${o.plan_code} ${o.amount} DZD  ${o.typename}`);
  }
  return parts.join('\n');
}

async function watch(base: string, id: string, opts: CommonOpts): Promise<void> {
  const interval = Math.max(200, Number(opts.interval) || 1000);
  const tty = process.stdout.isTTY === true && !opts.json;
  const started = Date.now();
  let last: TopupStatus | undefined;
  for (;;) {
    const t = await call<TopupOut>(`${base}/v3/mobile/check-id/${encodeURIComponent(id)}`, opts.key);
    const final = FINAL_STATUSES.includes(t.status);
    const secs = ((Date.now() - started) / 1000).toFixed(0).padStart(3);
    if (!opts.json) {
      if (tty) process.stdout.write(`\r\x1b[2K[${secs}s] ${t.status}`);
      else if (t.status !== last) process.stdout.write(`[${secs}s] ${t.status}\n`);
    }
    last = t.status;
    if (final || !opts.wait) {
      if (opts.json) process.stdout.write(`${JSON.stringify(t)}\n`);
      else process.stdout.write(`${tty ? '\n' : ''}${describe(t)}\n`);
      if (t.status === 'UNKNOWN_ERROR' && !opts.json) {
        process.stdout.write('  The outcome is uncertain: do NOT refund the customer; support resolves it (recheck within 24 h).\n');
      }
      return;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function topupSend(opts: CommonOpts & { plan: string; phone: string; amount?: string; ref?: string }): Promise<void> {
  const base = baseUrl(opts);
  const body: Record<string, unknown> = { plan_code: opts.plan, MSSIDN: opts.phone };
  if (opts.amount !== undefined) {
    const n = Number(opts.amount);
    body.amount = Number.isFinite(n) ? n : opts.amount;
  }
  if (opts.ref !== undefined) body.ref = opts.ref;
  const sent = await call<{ topupId: string; topupRef: string }>(`${base}/v3/mobile/send`, opts.key, { method: 'POST', body });
  if (!opts.json) process.stdout.write(`sent: topupId ${sent.topupId}  ref ${sent.topupRef}\n`);
  if (!opts.wait) {
    if (opts.json) process.stdout.write(`${JSON.stringify(sent)}\n`);
    return;
  }
  await watch(base, sent.topupId, opts);
}

export async function topupStatus(id: string, opts: CommonOpts): Promise<void> {
  await watch(baseUrl(opts), id, opts);
}
