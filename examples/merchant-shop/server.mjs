// An example merchant backend: sells mobile top-ups to its own users with @shahn/sdk and @shahn/merchant.
//
//   SHAHN_API_KEY=<key> SHAHN_BASE_URL=http://localhost:3000 node examples/merchant-shop/server.mjs
//
// - POST /buy {"user":"amel","phone":"0778037340","plan_code":"PREPAID_DJEZZY","amount":500}
//   takes the price from the user's wallet and sends the top-up (your order id is the ref).
// - GET /orders/:id (JSON) and /orders/:id.html: the status; a refund_message is shown exactly as the
//   API wrote it (Arabic, right to left) with any suggested offers.
// - GET /wallet/:user
// - With SHOP_PUBLIC_URL (where the API can reach this shop), the shop registers a webhook endpoint
//   at start and POST /webhooks/shahn hands each delivery to the kit: orders move at once; polling
//   stays the safety net. GET /webhooks/stats counts the deliveries handled.
// The user is refunded exactly once, and only when the top-up is REFUNDED; never on UNKNOWN_ERROR.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Database from 'better-sqlite3';
import { openSqliteKitStore, SyncKit } from '@shahn/merchant';
import { APIError, Shahn, WebhookVerificationError } from '@shahn/sdk';

const DB = process.env.SHOP_DB ?? './data/shop.db';
const PORT = Number(process.env.SHOP_PORT ?? 4000);
const PUBLIC_URL = process.env.SHOP_PUBLIC_URL;
const START_BALANCE = Number(process.env.SHOP_START_BALANCE ?? 5000);

const kitStore = openSqliteKitStore(DB);
await kitStore.migrate();
const db = new Database(DB);
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 5000');
db.exec(`
  CREATE TABLE IF NOT EXISTS wallets (user TEXT PRIMARY KEY, balance REAL NOT NULL CHECK (balance >= 0));
  CREATE TABLE IF NOT EXISTS purchases (order_id TEXT PRIMARY KEY, user TEXT NOT NULL, price REAL NOT NULL, state TEXT NOT NULL, note TEXT);
`);
const wallet = (user) => {
  db.prepare('INSERT OR IGNORE INTO wallets (user, balance) VALUES (?, ?)').run(user, START_BALANCE);
  return db.prepare('SELECT balance FROM wallets WHERE user = ?').get(user).balance;
};
// Refund the end user once: the purchase row changes state in the same transaction as the credit.
const refundUser = db.transaction((orderId, note) => {
  const p = db.prepare(`UPDATE purchases SET state = 'refunded', note = ? WHERE order_id = ? AND state != 'refunded' RETURNING user, price`).get(note, orderId);
  if (p) db.prepare('UPDATE wallets SET balance = balance + ? WHERE user = ?').run(p.price, p.user);
});

const client = new Shahn(); // SHAHN_API_KEY, SHAHN_BASE_URL

// Webhooks: a fresh endpoint for this shop's URL (an endpoint's secret is shown only when it is made).
let webhookSecret;
if (PUBLIC_URL) {
  const url = `${PUBLIC_URL}/webhooks/shahn`;
  const http = (method, path, body) =>
    fetch(`${client.baseUrl}${path}`, { method, headers: { 'x-access-token': process.env.SHAHN_API_KEY, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) }).then((r) => r.json());
  for (const e of (await http('GET', '/v3/webhooks')).data?.items ?? []) if (e.url === url) await http('DELETE', `/v3/webhooks/${e.id}`);
  const made = await http('POST', '/v3/webhooks', { url, description: 'merchant-shop example' });
  if (!made.success) throw new Error(`could not register the webhook endpoint: ${made.error?.message}`);
  webhookSecret = made.data.secret;
}
const webhookStats = { handled: 0, applied: 0, refused: 0 };

const kit = new SyncKit({
  client,
  store: kitStore,
  ...(webhookSecret ? { webhookSecret } : {}),
  hooks: {
    onFulfilled: (order) => db.prepare(`UPDATE purchases SET state = 'delivered' WHERE order_id = ?`).run(order.id),
    onRefunded: (order, { refund_message }) => refundUser(order.id, refund_message),
    // UNKNOWN_ERROR: show the message, do NOT refund; the daily recheck follows it up.
    onUncertain: (order) => db.prepare(`UPDATE purchases SET state = 'under review', note = ? WHERE order_id = ?`).run(order.refundMessage, order.id),
  },
});
kit.start();

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
};
const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

async function view(id) {
  const order = await kit.getOrder(id); // from our store; the API only while not final
  if (!order) return undefined;
  const purchase = db.prepare('SELECT user, price, state FROM purchases WHERE order_id = ?').get(id);
  return {
    id: order.id,
    status: order.status,
    phone: order.mssidn,
    plan_code: order.planCode,
    amount: order.amount,
    purchase,
    // Shown to the customer exactly as the API wrote it.
    message: order.refundMessage ?? undefined,
    suggested_offers: order.suggestedOffers ?? undefined,
    advice:
      order.status === 'UNKNOWN_ERROR'
        ? 'The outcome is not known yet. You have not been refunded; we will tell you within 24 hours.'
        : order.status === 'REFUNDED'
          ? 'Your money is back in your wallet.'
          : undefined,
  };
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? '/', 'http://shop');
    if (req.method === 'POST' && url.pathname === '/buy') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { user, phone, plan_code, amount } = JSON.parse(body || '{}');
      if (typeof user !== 'string' || typeof phone !== 'string' || typeof plan_code !== 'string') return json(res, 400, { error: 'user, phone and plan_code are required' });
      const price = Number(amount ?? 0);
      wallet(user);
      const orderId = `shop-${randomUUID()}`;
      const taken = db.prepare('UPDATE wallets SET balance = balance - ? WHERE user = ? AND balance >= ?').run(price, user, price).changes === 1;
      if (!taken) return json(res, 402, { error: 'not enough money in your wallet' });
      db.prepare(`INSERT INTO purchases (order_id, user, price, state) VALUES (?, ?, ?, 'sent')`).run(orderId, user, price);
      try {
        const order = await kit.send({ orderId, plan_code, MSSIDN: phone, ...(amount !== undefined ? { amount } : {}) });
        return json(res, 202, { orderId, status: order.status });
      } catch (err) {
        if (err instanceof APIError) {
          // A definite refusal (no top-up exists): give the money back now.
          refundUser(orderId, `${err.code}: ${err.message}`);
          return json(res, 422, { orderId, error: err.message, code: err.code, details: err.details });
        }
        // Unknown outcome (network): the kit checks it by ref; the money stays held meanwhile.
        return json(res, 202, { orderId, status: 'SENDING' });
      }
    }
    const order = /^\/orders\/([\w-]+?)(\.html)?$/.exec(url.pathname);
    if (req.method === 'GET' && order) {
      const v = await view(order[1]);
      if (!v) return json(res, 404, { error: 'no such order' });
      if (!order[2]) return json(res, 200, v);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Order ${escape(v.id)}</title>
<h1>Top-up ${escape(v.phone)}: ${escape(v.status)}</h1>
${v.message ? `<p lang="ar" dir="rtl">${escape(v.message)}</p>` : ''}
${v.suggested_offers ? `<ul>${v.suggested_offers.map((o) => `<li><bdi lang="ar">${escape(o.typename)}</bdi> ${escape(o.plan_code)} ${escape(o.amount)} DA</li>`).join('')}</ul>` : ''}
${v.advice ? `<p>${escape(v.advice)}</p>` : ''}</html>`);
    }
    if (req.method === 'POST' && url.pathname === '/webhooks/shahn' && webhookSecret) {
      // The raw body, as it came: the signature covers its bytes.
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      try {
        const result = await kit.handleWebhook(Buffer.concat(chunks), req.headers);
        webhookStats.handled++;
        if (result === 'applied') webhookStats.applied++;
        res.writeHead(204).end();
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err;
        webhookStats.refused++;
        json(res, 400, { error: err.message });
      }
      return;
    }
    if (req.method === 'GET' && url.pathname === '/webhooks/stats') return json(res, 200, { enabled: Boolean(webhookSecret), ...webhookStats });
    const w = /^\/wallet\/([\w-]+)$/.exec(url.pathname);
    if (req.method === 'GET' && w) return json(res, 200, { user: w[1], balance: wallet(w[1]) });
    return json(res, 404, { error: 'not found' });
  } catch (err) {
    return json(res, 500, { error: err.message });
  }
});
server.listen(PORT, '127.0.0.1', () => console.log(`merchant shop on http://127.0.0.1:${PORT} (API ${client.baseUrl})`));
const stop = async () => {
  server.close();
  await kit.stop();
  await kitStore.close();
  db.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
