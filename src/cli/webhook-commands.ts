/**
 * `shahn webhooks …`: a merchant's webhook endpoints managed from a terminal, over HTTP with its key,
 * as `shahn topup …` does. An endpoint belongs to the key's environment (a SANDBOX key sees and adds
 * sandbox endpoints). The server is --url (env SHAHN_URL); the endpoint's own URL is --endpoint-url.
 */
import type { AttemptOut, DeliveryOut, EndpointOut } from '../domain/webhooks.js';
import { baseUrl, call, type ServerOptions } from './http-client.js';

interface Opts extends ServerOptions {
  json?: boolean;
}

type Paged<T> = { items: T[]; pagination: { page: number; pageSize: number; totalPages: number; totalResults: number } };

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}
function printJson(data: unknown): void {
  out(JSON.stringify(data));
}
const endpointPath = (opts: Opts, id: string, rest = '') => `${baseUrl(opts)}/v3/webhooks/${encodeURIComponent(id)}${rest}`;

/** One line per endpoint: id, url, events, then what else there is. */
function describeEndpoint(e: EndpointOut): string {
  const parts = [e.id, e.url, `events: ${e.events.length === 0 ? 'all' : e.events.join(',')}`, `created ${e.createdAt}`];
  if (e.disabledAt) parts.push(`DISABLED ${e.disabledAt}${e.disabledReason ? ` (${e.disabledReason})` : ''}`);
  if (e.description) parts.push(`"${e.description}"`);
  return parts.join('  ');
}

/** One line per delivery: event, type, where it stands, attempts, the last answer, its id. */
function describeDelivery(d: DeliveryOut): string {
  const state = d.deliveredAt ? `delivered ${d.deliveredAt}` : d.nextAttemptAt ? `pending, next attempt ${d.nextAttemptAt}` : 'given up';
  const last = [d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : '', d.lastError ?? ''].filter((s) => s !== '').join(' ') || '-';
  const parts = [d.eventId, d.type.padEnd(19), state, `attempts ${d.attempts}`, `last: ${last}`, `created ${d.createdAt}`];
  // This delivery's own id (a replay is another delivery of the same event).
  if (d.id) parts.push(`delivery ${d.id}`);
  return parts.join('  ');
}

export async function webhooksList(opts: Opts): Promise<void> {
  const data = await call<{ items: EndpointOut[] }>(`${baseUrl(opts)}/v3/webhooks`, opts.key);
  if (opts.json) return printJson(data);
  if (data.items.length === 0) return out("No webhook endpoints for this key's environment.");
  out(`${data.items.length} webhook endpoint(s):`);
  for (const e of data.items) out(`  ${describeEndpoint(e)}`);
}

export async function webhooksAdd(opts: Opts & { endpointUrl: string; events?: string; description?: string }): Promise<void> {
  const body: { url: string; events?: string[]; description?: string } = { url: opts.endpointUrl };
  if (opts.events !== undefined) body.events = opts.events.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (opts.description !== undefined) body.description = opts.description;
  const data = await call<EndpointOut & { secret: string }>(`${baseUrl(opts)}/v3/webhooks`, opts.key, { method: 'POST', body });
  if (opts.json) return printJson(data);
  out(`Webhook endpoint added: ${describeEndpoint(data)}`);
  out('Signing secret (shown only now: keep it to verify the webhook-signature header; `shahn webhooks rotate-secret` makes a new one):');
  out(`  ${data.secret}`);
}

export async function webhooksDelete(id: string, opts: Opts): Promise<void> {
  const data = await call<{ deleted: boolean }>(endpointPath(opts, id), opts.key, { method: 'DELETE' });
  if (opts.json) return printJson(data);
  out(`Webhook endpoint ${id} deleted.`);
}

export async function webhooksRotateSecret(id: string, opts: Opts): Promise<void> {
  const data = await call<{ id: string; secret: string; previousSecretExpiresAt: string }>(endpointPath(opts, id, '/rotate-secret'), opts.key, { method: 'POST' });
  if (opts.json) return printJson(data);
  out(`New signing secret of ${data.id} (shown only now):`);
  out(`  ${data.secret}`);
  out(`The previous secret also signs deliveries until ${data.previousSecretExpiresAt}: switch your receiver before then.`);
}

export async function webhooksTest(id: string, opts: Opts): Promise<void> {
  const data = await call<{ eventId: string }>(endpointPath(opts, id, '/test'), opts.key, { method: 'POST' });
  if (opts.json) return printJson(data);
  out(`Test event ${data.eventId} (type ping) queued for ${id}; see it with \`shahn webhooks deliveries ${id}\`.`);
}

export async function webhooksDeliveries(id: string, opts: Opts & { page?: string; pageSize?: string }): Promise<void> {
  const query = new URLSearchParams();
  if (opts.page !== undefined) query.set('page', opts.page);
  if (opts.pageSize !== undefined) query.set('pageSize', opts.pageSize);
  const qs = query.toString() ? `?${query.toString()}` : '';
  const data = await call<Paged<DeliveryOut>>(endpointPath(opts, id, `/deliveries${qs}`), opts.key);
  if (opts.json) return printJson(data);
  const p = data.pagination;
  if (p.totalResults === 0) return out(`No deliveries to ${id} yet.`);
  out(`${p.totalResults} deliver${p.totalResults === 1 ? 'y' : 'ies'} to ${id}, newest first (page ${p.page} of ${Math.max(1, p.totalPages)}, ${p.pageSize} a page):`);
  for (const d of data.items) out(`  ${describeDelivery(d)}`);
}

export async function webhooksReplay(id: string, opts: Opts & { from: string; to: string }): Promise<void> {
  const data = await call<{ replayed: number }>(endpointPath(opts, id, '/replay'), opts.key, { method: 'POST', body: { from: opts.from, to: opts.to } });
  if (opts.json) return printJson(data);
  out(`Replayed ${data.replayed} event(s) of ${opts.from} … ${opts.to} to ${id} (under their original event ids).`);
}

export async function webhooksDelivery(id: string, deliveryId: string, opts: Opts): Promise<void> {
  const data = await call<DeliveryOut & { attemptLog: AttemptOut[]; body: string | null }>(endpointPath(opts, id, `/deliveries/${encodeURIComponent(deliveryId)}`), opts.key);
  if (opts.json) return printJson(data);
  out(describeDelivery(data));
  if (data.attemptLog.length === 0) out('  no attempt yet');
  for (const a of data.attemptLog) {
    const answer = a.response ? `  answer: ${JSON.stringify(a.response.length > 200 ? `${a.response.slice(0, 200)}…` : a.response)}` : '';
    out(`  attempt ${a.attempt}  ${a.at}  ${a.durationMs} ms  ${a.statusCode !== null ? `HTTP ${a.statusCode}` : 'no answer'}${a.error ? `  error: ${a.error}` : ''}${answer}`);
  }
  if (data.body !== null) out(`  body: ${data.body}`);
}

export async function webhooksEnable(id: string, opts: Opts): Promise<void> {
  const data = await call<EndpointOut>(endpointPath(opts, id, '/enable'), opts.key, { method: 'POST' });
  if (opts.json) return printJson(data);
  out(`Webhook endpoint enabled again: ${describeEndpoint(data)}`);
  out(`Events it missed while disabled: \`shahn webhooks replay ${id} --from … --to …\`.`);
}
