#!/usr/bin/env node
/**
 * Sync kit with webhooks benchmark: the @shahn/merchant SyncKit polling only, with webhooks, and with
 * webhooks of which 30% are lost on the way, in one run against one server.
 *
 *   npm run build && node bench/kit-webhooks.mjs [--orders N] [--spread S] [--drop F] [--seed K]
 *                                                [--settle S] [--quick] [--out FILE] [--keep]
 *
 * One `node bin/shahn.js serve` child on loopback, on a fresh SQLite store in a temp dir:
 * SHAHN_RATE_LIMIT=0, SHAHN_WEBHOOK_ALLOW_PRIVATE=true (http://127.0.0.1 endpoints),
 * SHAHN_PROCESSOR_CONCURRENCY = max(2000, 6N), the operator simulator at its documented latency
 * (5–30 s, uniform) and default outcome rates except timeout weight 0 (as merchant-sync.mjs). Three
 * merchants are made with `shahn merchant create --json` before serve starts, one per contender; each
 * contender is a SyncKit of its own (SQLite store in the temp dir, real clock, the kit's default
 * schedule and tick, start()), all three in this process at the same time:
 * - polling: no webhook endpoint; the kit learns everything by polling.
 * - webhooks: the merchant registers an endpoint (POST /v3/webhooks, production key) at an HTTP
 *   receiver in this process that hands each delivery's raw body and headers to kit.handleWebhook
 *   (the kit made with webhookSecret = the endpoint's secret) and answers 204 (400 when refused);
 *   polling keeps running as the safety net.
 * - dropped: the same, but the endpoint is a small HTTP proxy in this process that, for a random
 *   F of the requests (--drop, default 0.3; a seeded generator, --seed), destroys the connection
 *   without forwarding; the server retries per its schedule (WEBHOOK_SCHEDULE_MS: first retry after
 *   5 s, then 5 min). The rest are forwarded to the contender's receiver.
 * N orders per contender (default 500; --quick: 100 over 5 s) are sent with kit.send(), one of each
 * contender at the same moments, spread evenly over --spread S seconds (default 10). The run waits
 * until every contender's orders are final in its store and their hooks done, then --settle s more
 * (default 7: the dropped deliveries' 5 s retries arrive and must change nothing).
 *
 * Measured per contender: API calls per order (the kit's apiCalls minus its N sends; HTTP calls by
 * endpoint through the SDK's fetch option), lag per order = knownFinalAt (kit store) − final_at
 * (the server's orders.final_at, read-only): mean, p50, p95, p99, max; hook calls per order
 * (onFulfilled + onRefunded + onUncertain: exactly 1 for an order that went final, 0 for one that did
 * not; anything else is a violation); orders not final in the kit; kit status ≠ server status. Also:
 * deliveries received and their results (applied / stale / …), how many finals were learned by a
 * webhook vs by a poll, delivery lag (receipt − the event's timestamp), the server's outbox per
 * endpoint, and the CPU of the serve child (shared by the three contenders) from /proc.
 *
 * Targets: webhooks p95 lag < 1 s; webhooks calls per order ≤ polling's; dropped: every order final in
 * the kit and hooks exactly once per order. Also checked (any contender): every order final, hooks
 * exactly once, kit status = server status. Exit code 0 = all pass, 1 = a target or check missed,
 * 2 = the run broke (an error, a send that failed, the server gone). Results:
 * bench/results/kit-webhooks.json (per-order rows included). --keep keeps the temp dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import {
  benchArgs, ROOT, countBy, countingFetch, dist, envWithoutShahn, gitInfo, killChildrenNow, numArg, procCpu, round, sec, sleep, startServeChild, stats, stopChild,
} from './lib.mjs';

const FINAL = new Set(['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']);
const FINAL_EVENTS = new Set(['topup.fulfilled', 'topup.refunded', 'topup.unknown_error']);
const PLAN = 'PREPAID_DJEZZY';
const AMOUNT = 100;

// ---------------------------------------------------------------- arguments

const args = benchArgs(import.meta.url, {
  orders: { type: 'string' },
  spread: { type: 'string' },
  drop: { type: 'string' },
  seed: { type: 'string' },
  settle: { type: 'string' },
  quick: { type: 'boolean', default: false },
  out: { type: 'string' },
  keep: { type: 'boolean', default: false },
});
const N = numArg(args, 'orders', 1, 10_000, args.quick ? 100 : 500);
const SPREAD_MS = numArg(args, 'spread', 0, 600, args.quick ? 5 : 10, false) * 1000;
const DROP = numArg(args, 'drop', 0, 0.9, 0.3, false);
const SEED = numArg(args, 'seed', 0, 2 ** 31, 1);
const SETTLE_MS = numArg(args, 'settle', 0, 600, 7, false) * 1000;
const OUT = args.out ?? join(ROOT, 'bench', 'results', 'kit-webhooks.json');
const CONCURRENCY = Math.max(2000, 6 * N);
/** Every order is final on the server 30 s after its send (timeout weight 0); the kit knows within its schedule. */
const DEADLINE_MS = SPREAD_MS + 240_000;

const log = (m) => process.stderr.write(`[kit-webhooks ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const children = new Set();
const killChildren = () => killChildrenNow(children);
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren();
    process.exit(2);
  });
}
const cli = (argv, env) => execFileSync(process.execPath, [join(ROOT, 'bin', 'shahn.js'), ...argv], { env: { ...envWithoutShahn(), SHAHN_LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', timeout: 60_000 });
// The simulator's seeded generator (mulberry32): the same drops for the same --seed and arrival order.
const { seededRandom } = await dist('gateways/operator-simulator.js');
const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${server.address().port}`)));
const close = (server) => new Promise((r) => {
  server.close(() => r());
  server.closeAllConnections();
});

// ---------------------------------------------------------------- a contender's webhook side

/** The merchant's endpoint: each delivery's raw body and headers go to kit.handleWebhook. */
function receiver(c, WebhookVerificationError) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks);
      let body = null;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        /* handleWebhook refuses it */
      }
      if (!c.kit) return void res.writeHead(503).end(); // not ready yet: the server tries again
      const d = { id: req.headers['webhook-id'], type: body?.type ?? null, ref: body?.data?.ref ?? null, at, eventAt: Date.parse(body?.timestamp ?? ''), result: null, doneAt: null };
      c.deliveries.push(d);
      c.kit.handleWebhook(raw, req.headers).then(
        (r) => {
          d.result = r;
          d.doneAt = Date.now();
          res.writeHead(204).end();
        },
        (err) => {
          d.result = err instanceof WebhookVerificationError ? 'refused' : `error: ${err.message}`;
          d.doneAt = Date.now();
          res.writeHead(err instanceof WebhookVerificationError ? 400 : 500).end();
        },
      );
    });
  });
  server.keepAliveTimeout = 120_000; // the dispatcher keeps its connections: no close racing a reuse
  return server;
}

/** In front of a receiver: destroys the connection of a `drop` share of the requests (seeded), forwards the rest. */
function dropProxy(c, targetUrl, drop, random) {
  const agent = new Agent({ keepAlive: true });
  const target = new URL(targetUrl);
  const server = createServer((req, res) => {
    c.proxy.requests++;
    if (random() < drop) {
      c.proxy.dropped++;
      req.socket.destroy(); // no answer at all: the server sees the connection reset
      return;
    }
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers.connection;
      delete headers.host;
      const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', (err) => {
        c.proxy.upstreamErrors++;
        if (!res.headersSent) res.writeHead(502);
        res.end(err.message);
      });
      up.end(Buffer.concat(chunks));
    });
  });
  server.keepAliveTimeout = 120_000;
  return { server, agent };
}

// ---------------------------------------------------------------- the run

async function main() {
  const t00 = Date.now();
  for (const p of ['dist/cli/main.js', 'packages/sdk/dist/index.js', 'packages/merchant/dist/index.js']) {
    try {
      readFileSync(join(ROOT, p));
    } catch {
      throw new Error(`${p} is missing: build first (npx tsc -b tsconfig.build.json)`);
    }
  }
  const [{ SyncKit, openSqliteKitStore }, { Shahn, WebhookVerificationError }, { default: Database }] = await Promise.all([
    import('@shahn/merchant'),
    import('@shahn/sdk'),
    import('better-sqlite3'),
  ]);

  const dir = mkdtempSync(join(os.tmpdir(), 'shahn-kit-webhooks-'));
  const dbPath = join(dir, 'shahn.db');
  const simPath = join(dir, 'simulator.json');
  // Documented latency (the defaults, 5–30 s) and default rates; only the timeout weight is 0.
  writeFileSync(simPath, JSON.stringify({ defaults: { latencyMs: { min: 5_000, max: 30_000 }, rates: { timeout: 0 } } }));
  const env = {
    SHAHN_DB: dbPath,
    SHAHN_SIMULATOR_CONFIG: simPath,
    SHAHN_PROCESSOR_CONCURRENCY: String(CONCURRENCY),
    SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true',
    SHAHN_SHUTDOWN_GRACE_MS: '5000',
    HOST: '127.0.0.1',
  };
  const contenders = [
    { name: 'polling', label: 'polling only', webhooks: false, drop: 0 },
    { name: 'webhooks', label: 'webhooks', webhooks: true, drop: 0 },
    { name: 'dropped', label: `webhooks, ${round(DROP * 100, 1)}% dropped`, webhooks: true, drop: DROP },
  ].map((c, i) => ({
    ...c,
    merchant: JSON.parse(cli(['merchant', 'create', '--username', `+21355000004${i}`, '--balance', '100000000', '--json'], env)),
    hooks: new Map(), // order id → [{ kind, at }]
    deliveries: [],
    proxy: { requests: 0, dropped: 0, upstreamErrors: 0 },
    sent: [],
    sendErrors: 0,
    warnings: 0,
    doneAt: null,
  }));
  const server = await startServeChild(ROOT, env, children, 60_000);
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(server.url)) throw new Error(`not loopback: ${server.url}`);
  let serverGone = false;
  server.child.once('exit', (code, signal) => {
    serverGone = true;
    log(`shahn serve exited (${code ?? signal})`);
  });
  log(`shahn serve at ${server.url} (store ${dbPath}); 3 × ${N} orders over ${SPREAD_MS / 1000} s; drop ${DROP} (seed ${SEED}); processor concurrency ${CONCURRENCY}`);

  const servers = [];
  const agents = [];
  let result;
  try {
    const random = seededRandom(SEED);
    for (const c of contenders) {
      c.store = openSqliteKitStore(join(dir, `kit-${c.name}`, 'merchant.db'));
      await c.store.migrate();
      c.http = countingFetch(null);
      let secret;
      if (c.webhooks) {
        const recv = receiver(c, WebhookVerificationError);
        servers.push(recv);
        let url = `${await listen(recv)}/webhooks/shahn`;
        if (c.drop > 0) {
          const p = dropProxy(c, url, c.drop, random);
          servers.push(p.server);
          agents.push(p.agent);
          url = `${await listen(p.server)}/webhooks/shahn`;
        }
        const made = await (await fetch(`${server.url}/v3/webhooks`, {
          method: 'POST',
          headers: { 'x-access-token': c.merchant.productionKey, 'content-type': 'application/json' },
          body: JSON.stringify({ url, description: `kit-webhooks bench: ${c.label}` }),
        })).json();
        if (!made.success) throw new Error(`could not register the endpoint of ${c.name}: ${JSON.stringify(made)}`);
        secret = made.data.secret;
        c.endpointId = made.data.id;
        c.endpointUrl = url;
      }
      const hook = (kind) => (o) => {
        let a = c.hooks.get(o.id);
        if (!a) c.hooks.set(o.id, (a = []));
        a.push({ kind, at: Date.now() });
      };
      c.polls = { withDue: 0, due: 0 };
      c.kit = new SyncKit({
        client: new Shahn({ apiKey: c.merchant.productionKey, baseUrl: server.url, fetch: c.http.fetch }),
        store: c.store,
        ...(secret ? { webhookSecret: secret } : {}),
        hooks: { onFulfilled: hook('fulfilled'), onRefunded: hook('refunded'), onUncertain: hook('uncertain') },
        logger: {
          warn: (o, m) => {
            c.warnings++;
            if (c.warnings <= 20) log(`${c.name} kit warn: ${m} ${JSON.stringify(o)}`);
          },
          error: (o, m) => log(`${c.name} kit error: ${m} ${JSON.stringify(o)}`),
        },
      });
    }

    // Count the kit's polls that found due orders (instrumentation only: its own pollOnce runs unchanged).
    for (const c of contenders) {
      const pollOnce = c.kit.pollOnce.bind(c.kit);
      c.kit.pollOnce = async (...a) => {
        const due = await pollOnce(...a);
        if (due > 0) {
          c.polls.withDue++;
          c.polls.due += due;
        }
        return due;
      };
    }

    // ---- sends: one order of each contender at the same moments
    for (const c of contenders) c.kit.start();
    const cpu0 = procCpu(server.child.pid);
    const me0 = process.cpuUsage();
    const t0 = Date.now();
    const gap = N > 1 ? SPREAD_MS / (N - 1) : 0;
    const sendTasks = [];
    for (let i = 0; i < N; i++) {
      const at = t0 + i * gap;
      if (at > Date.now() + 1) await sleep(at - Date.now());
      contenders.forEach((c, k) => {
        const phone = `0${770_000_000 + k * 1_000_000 + i}`;
        sendTasks.push(
          c.kit.send({ orderId: `${c.name}-${i}`, plan_code: PLAN, MSSIDN: phone, amount: AMOUNT }).then(
            (o) => c.sent.push({ id: o.id, topupId: o.topupId, sentAt: o.createdAt }),
            (err) => {
              c.sendErrors++;
              log(`${c.name} send ${i} failed: ${err.message}`);
            },
          ),
        );
      });
    }
    await Promise.all(sendTasks);
    const sendsDoneAt = Date.now();
    log(`sends done in ${((sendsDoneAt - t0) / 1000).toFixed(1)} s (errors: ${contenders.map((c) => `${c.name} ${c.sendErrors}`).join(', ')})`);

    // ---- wait: every contender's orders final in its store, their hooks done
    let lastReport = Date.now();
    for (;;) {
      for (const c of contenders) {
        if (c.doneAt !== null) continue;
        c.open = (await c.store.dueOrders(Number.MAX_SAFE_INTEGER, 1_000_000)).length;
        c.hooksWaiting = (await c.store.listEvents({ state: 'pending' })).length + (await c.store.listEvents({ state: 'calling' })).length;
        if (c.open === 0 && c.hooksWaiting === 0) {
          c.doneAt = Date.now();
          log(`${c.name}: every order final, hooks done at +${((c.doneAt - t0) / 1000).toFixed(1)} s (${c.kit.apiCalls - N} calls besides the sends)`);
        }
      }
      if (contenders.every((c) => c.doneAt !== null)) break;
      if (serverGone) throw new Error('shahn serve exited during the run');
      if (Date.now() - t0 > DEADLINE_MS) {
        log('deadline reached: stopping with orders unresolved');
        break;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`+${((Date.now() - t0) / 1000).toFixed(0)} s: open ${contenders.map((c) => `${c.name} ${c.doneAt === null ? c.open : 0}`).join(', ')}; deliveries ${contenders.map((c) => `${c.name} ${c.deliveries.length}`).join(', ')}`);
      }
      await sleep(250);
    }
    const doneAt = Date.now();
    const cpuServe = procCpu(server.child.pid) - cpu0;
    const meUsage = process.cpuUsage(me0);
    const cpuBench = (meUsage.user + meUsage.system) / 1e6;
    if (SETTLE_MS > 0) {
      log(`settling ${SETTLE_MS / 1000} s (late and repeated deliveries must change nothing)`);
      await sleep(SETTLE_MS);
    }
    for (const c of contenders) await c.kit.stop();
    const endAt = Date.now();

    // ---- ground truth: the server's store (read-only)
    const sdb = new Database(dbPath, { readonly: true, fileMustExist: true });
    const rows = new Map(sdb.prepare('SELECT id, status, created_at, final_at FROM orders').all().map((r) => [r.id, r]));
    const outbox = new Map(
      sdb.prepare(
        `SELECT subject, COUNT(*) AS messages, SUM(attempts) AS attempts, SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END) AS undelivered
         FROM outbox WHERE kind = 'webhook' GROUP BY subject`,
      ).all().map((r) => [r.subject, {
        messages: Number(r.messages), attempts: Number(r.attempts), undelivered: Number(r.undelivered),
        failedAttempts: Number(r.attempts) - (Number(r.messages) - Number(r.undelivered)), // a delivered message's last attempt succeeded
      }]),
    );
    sdb.close();

    // ---- per contender
    const summaries = {};
    const perOrder = {};
    for (const c of contenders) {
      const finalByWebhook = new Set(c.deliveries.filter((d) => d.result === 'applied' && FINAL_EVENTS.has(d.type)).map((d) => d.ref));
      const orderRows = [];
      for (const s of c.sent) {
        const o = await c.store.getOrder(s.id);
        const r = rows.get(o.topupId);
        const hooks = c.hooks.get(o.id) ?? [];
        const final = FINAL.has(o.status);
        orderRows.push({
          id: o.id, topupId: o.topupId, status: o.status, serverStatus: r?.status ?? null, final,
          sentAt: s.sentAt, finalAt: r?.final_at ?? null, knownFinalAt: o.knownFinalAt,
          lagMs: final && o.knownFinalAt !== null && r?.final_at ? o.knownFinalAt - r.final_at : null,
          hooks: hooks.length, hookKinds: hooks.map((h) => h.kind).join(','), checks: o.checks,
          learnedBy: !final ? null : finalByWebhook.has(o.ref) ? 'webhook' : 'poll',
        });
      }
      const final = orderRows.filter((r) => r.final);
      const notFinal = orderRows.filter((r) => !r.final);
      const hookViolations = orderRows.filter((r) => (r.final ? r.hooks !== 1 : r.hooks !== 0));
      const mismatches = final.filter((r) => r.status !== r.serverStatus);
      const calls = c.kit.apiCalls - N; // the kit counts each send() once
      // Deliveries: the first receipt of each event, its lag from the event's time stamp.
      const firstReceipt = new Map();
      for (const d of c.deliveries) if (!firstReceipt.has(d.id)) firstReceipt.set(d.id, d);
      const ob = c.endpointId ? outbox.get(c.endpointId) : undefined;
      summaries[c.name] = {
        label: c.label,
        orders: N,
        sent: c.sent.length,
        sendErrors: c.sendErrors,
        final: final.length,
        notFinal: notFinal.length,
        notFinalOrders: notFinal.map((r) => ({ id: r.id, topupId: r.topupId, status: r.status, serverStatus: r.serverStatus })),
        statusMismatches: mismatches.length,
        mismatchedOrders: mismatches.slice(0, 20).map((r) => ({ id: r.id, status: r.status, serverStatus: r.serverStatus })),
        hookViolations: hookViolations.length,
        violatingOrders: hookViolations.slice(0, 20).map((r) => ({ id: r.id, status: r.status, hooks: r.hookKinds || 'none' })),
        hookCalls: [...c.hooks.values()].reduce((n, a) => n + a.length, 0),
        statuses: countBy(final.map((r) => r.status)),
        apiCalls: c.kit.apiCalls,
        callsPerOrder: calls / N,
        callsPerOrderWithSends: c.kit.apiCalls / N,
        http: c.http.counts,
        pollsWithDueOrders: c.polls.withDue,
        dueOrdersPerPoll: c.polls.withDue ? c.polls.due / c.polls.withDue : null,
        lagMs: stats(final.map((r) => r.lagMs)),
        learnedBy: countBy(final.map((r) => r.learnedBy)),
        lagByWebhookMs: stats(final.filter((r) => r.learnedBy === 'webhook').map((r) => r.lagMs)),
        lagByPollMs: stats(final.filter((r) => r.learnedBy === 'poll').map((r) => r.lagMs)),
        allFinalS: c.doneAt ? (c.doneAt - t0) / 1000 : null,
        kitWarnings: c.warnings,
        ...(c.webhooks
          ? {
              webhooks: {
                endpoint: c.endpointUrl,
                deliveriesReceived: c.deliveries.length,
                distinctEvents: firstReceipt.size,
                receivedAgain: c.deliveries.length - firstReceipt.size,
                results: countBy(c.deliveries.map((d) => d.result ?? 'unanswered')),
                deliveryLagMs: stats([...firstReceipt.values()].map((d) => d.at - d.eventAt)),
                handleMs: stats(c.deliveries.filter((d) => d.doneAt).map((d) => d.doneAt - d.at)),
                proxy: c.drop > 0 ? { ...c.proxy, dropShare: c.proxy.requests ? c.proxy.dropped / c.proxy.requests : null } : null,
                serverOutbox: ob ?? null,
              },
            }
          : {}),
      };
      perOrder[c.name] = orderRows.map((r) => [r.topupId, r.status, r.sentAt, r.finalAt, r.knownFinalAt, r.hooks, r.checks, r.learnedBy]);
    }

    const P = summaries.polling;
    const W = summaries.webhooks;
    const D = summaries.dropped;
    const target = {
      webhooksLagP95: { value: W.lagMs.p95, limit: 1000, pass: W.lagMs.p95 !== null && W.lagMs.p95 < 1000 && W.final > 0 },
      webhooksCallsPerOrder: { value: W.callsPerOrder, limit: P.callsPerOrder, pass: W.callsPerOrder <= P.callsPerOrder },
      droppedAllFinal: { value: D.notFinal, limit: 0, pass: D.notFinal === 0 && D.sent === N },
      droppedHooksOnce: { value: D.hookViolations, limit: 0, pass: D.hookViolations === 0 },
    };
    const checks = {
      allFinal: { value: Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, s.notFinal])), pass: Object.values(summaries).every((s) => s.notFinal === 0) },
      hooksOnce: { value: Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, s.hookViolations])), pass: Object.values(summaries).every((s) => s.hookViolations === 0) },
      statusesMatch: { value: Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, s.statusMismatches])), pass: Object.values(summaries).every((s) => s.statusMismatches === 0) },
    };
    const pass = Object.values(target).every((t) => t.pass) && Object.values(checks).every((t) => t.pass);
    const serverFinal = [...rows.values()].filter((r) => r.final_at);

    result = {
      bench: 'kit-webhooks',
      at: new Date(t00).toISOString(),
      git: gitInfo(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: process.platform },
      config: {
        orders: N, spreadS: SPREAD_MS / 1000, sendMode: SPREAD_MS === 0 ? 'all at once' : `one order of each contender every ${round(gap, 2)} ms over ${SPREAD_MS / 1000} s`,
        drop: DROP, seed: SEED, settleS: SETTLE_MS / 1000, kit: 'default schedule and tick (1 s), SQLite store, real clock',
        server: { rateLimit: 0, processorConcurrency: CONCURRENCY, webhookAllowPrivate: true, simulator: JSON.parse(readFileSync(simPath, 'utf8')), plan: PLAN, amount: AMOUNT },
      },
      durationS: (endAt - t0) / 1000,
      sendsS: (sendsDoneAt - t0) / 1000,
      allFinalS: (doneAt - t0) / 1000,
      serverTimeToFinalMs: stats(serverFinal.map((r) => r.final_at - r.created_at)),
      cpu: {
        serveS: round(cpuServe, 2),
        serveCores: round(cpuServe / ((doneAt - t0) / 1000), 3),
        serveMsPerOrder: round((cpuServe * 1000) / (3 * N), 3),
        benchS: round(cpuBench, 2),
        note: 'sends to all contenders final; one server for all three contenders (not separable); bench = this process (three kits, receivers, proxy)',
      },
      contenders: summaries,
      target: { ...target, pass: Object.values(target).every((t) => t.pass) },
      checks,
      pass,
      orders: { ...perOrder, columns: ['topupId', 'status', 'sentAt', 'finalAt', 'knownFinalAt', 'hooks', 'checks', 'learnedBy'] },
    };
  } finally {
    for (const c of contenders) {
      try {
        await c.kit?.stop();
      } catch {
        /* best effort */
      }
    }
    for (const s of servers) await close(s);
    for (const a of agents) a.destroy();
    for (const c of contenders) await c.store?.close();
    await stopChild(children, server.child, 15_000);
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
  return result;
}

function printTable(r) {
  const cs = ['polling', 'webhooks', 'dropped'].map((k) => r.contenders[k]);
  const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);
  const rows = [
    ['', ...cs.map((c) => c.label)],
    ['orders final / not final', ...cs.map((c) => `${c.final} / ${c.notFinal}`)],
    ['calls per order (w/o sends)', ...cs.map((c) => c.callsPerOrder.toFixed(3))],
    ['HTTP list / check-id / check-ref', ...cs.map((c) => `${c.http.list} / ${c.http.checkId} / ${c.http.checkRef}`)],
    ['polls with due orders / due per poll', ...cs.map((c) => `${c.pollsWithDueOrders} / ${c.dueOrdersPerPoll === null ? '—' : c.dueOrdersPerPoll.toFixed(1)}`)],
    ['lag mean', ...cs.map((c) => ms(c.lagMs.mean))],
    ['lag p50', ...cs.map((c) => ms(c.lagMs.p50))],
    ['lag p95', ...cs.map((c) => ms(c.lagMs.p95))],
    ['lag p99', ...cs.map((c) => ms(c.lagMs.p99))],
    ['lag max', ...cs.map((c) => ms(c.lagMs.max))],
    ['final learned by webhook / poll', ...cs.map((c) => `${c.learnedBy.webhook ?? 0} / ${c.learnedBy.poll ?? 0}`)],
    ['hook violations (≠ 1 per final order)', ...cs.map((c) => String(c.hookViolations))],
    ['kit status ≠ server status', ...cs.map((c) => String(c.statusMismatches))],
    ['deliveries: received / applied / stale', ...cs.map((c) => (c.webhooks ? `${c.webhooks.deliveriesReceived} / ${c.webhooks.results.applied ?? 0} / ${c.webhooks.results.stale ?? 0}` : '—'))],
    ['proxy: requests / dropped', ...cs.map((c) => (c.webhooks?.proxy ? `${c.webhooks.proxy.requests} / ${c.webhooks.proxy.dropped}` : '—'))],
  ];
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('   ');
  const out = [''];
  out.push(`kit-webhooks: 3 × ${r.config.orders} production orders, ${r.config.sendMode}; simulator 5–30 s, timeout weight 0; one shahn serve`);
  out.push(line(rows[0]));
  out.push(w.map((x) => '-'.repeat(x)).join('   '));
  for (const row of rows.slice(1)) out.push(line(row));
  out.push('');
  for (const c of cs.filter((x) => x.webhooks)) {
    const wh = c.webhooks;
    out.push(`${c.label}: delivery lag (receipt − event time, first receipt) p50 ${ms(wh.deliveryLagMs.p50)}, p95 ${ms(wh.deliveryLagMs.p95)}, max ${ms(wh.deliveryLagMs.max)}; handleWebhook p95 ${ms(wh.handleMs.p95)}; lag of finals by webhook p95 ${ms(c.lagByWebhookMs.p95)}, by poll p95 ${ms(c.lagByPollMs.p95)}`);
    if (wh.serverOutbox) out.push(`  server outbox: ${wh.serverOutbox.messages} messages, ${wh.serverOutbox.attempts} attempts (${wh.serverOutbox.failedAttempts} failed), ${wh.serverOutbox.undelivered} still undelivered at the end (next attempt after 5 min)`);
  }
  out.push(`server: time to final mean ${sec(r.serverTimeToFinalMs.mean)}, max ${sec(r.serverTimeToFinalMs.max)}; CPU of serve ${r.cpu.serveS} s (${r.cpu.serveCores} cores, ${r.cpu.serveMsPerOrder} ms per order, all contenders); this process ${r.cpu.benchS} s`);
  out.push(`run ${r.durationS.toFixed(0)} s (sends ${r.sendsS.toFixed(1)} s, all final ${r.allFinalS.toFixed(1)} s)`);
  out.push('');
  const t = r.target;
  const pf = (x) => (x.pass ? 'PASS' : 'FAIL');
  out.push(`target: webhooks lag p95 < 1 s ................. ${pf(t.webhooksLagP95)} (${ms(t.webhooksLagP95.value)})`);
  out.push(`        webhooks calls/order ≤ polling's ....... ${pf(t.webhooksCallsPerOrder)} (${t.webhooksCallsPerOrder.value.toFixed(3)} vs ${t.webhooksCallsPerOrder.limit.toFixed(3)})`);
  out.push(`        dropped: every order final ............. ${pf(t.droppedAllFinal)} (${t.droppedAllFinal.value} not final)`);
  out.push(`        dropped: hooks exactly once ............ ${pf(t.droppedHooksOnce)} (${t.droppedHooksOnce.value} violations)`);
  const ch = r.checks;
  out.push(`check:  all contenders final / hooks once / statuses match: ${pf(ch.allFinal)} / ${pf(ch.hooksOnce)} / ${pf(ch.statusesMatch)}`);
  out.push(`overall: ${r.pass ? 'PASS' : 'FAIL'}`);
  process.stdout.write(out.join('\n') + '\n');
}

const watchdog = setTimeout(() => {
  log('watchdog: the run took too long; killing children');
  killChildren();
  process.exit(2);
}, DEADLINE_MS + SETTLE_MS + 120_000);
watchdog.unref();

try {
  const r = await main();
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(r, null, 2) + '\n');
  printTable(r);
  log(`results: ${OUT}`);
  const broke = Object.values(r.contenders).some((c) => c.sendErrors > 0);
  if (broke) log('sends failed: the run is broken');
  process.exitCode = broke ? 2 : r.pass ? 0 : 1;
} catch (err) {
  log(`run broke: ${err.stack ?? err}`);
  killChildren();
  process.exitCode = 2;
}
