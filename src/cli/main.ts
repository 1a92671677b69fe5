/**
 * The shahn CLI. Names and flags are a public interface: scripts depend on them.
 *   shahn serve
 *   shahn merchant create --username +213… [--balance N] [--json]
 *   shahn merchant credit --username +213… --amount N [--note TEXT]
 *   shahn topup send --key K --plan P --phone 07… [--amount N] [--ref R]
 *   shahn topup status ID --key K
 *   shahn webhooks list --key K [--url SERVER] [--json]
 *   shahn webhooks add --key K --endpoint-url https://… [--events topup.fulfilled,topup.refunded] [--description D]
 *   shahn webhooks delete ID | rotate-secret ID | test ID   --key K
 *   shahn webhooks deliveries ID --key K [--page N] [--page-size N]
 *   shahn webhooks delivery ID DELIVERY_ID --key K  |  shahn webhooks enable ID --key K
 *   shahn webhooks replay ID --key K --from ISO --to ISO
 *   (topup and webhooks talk HTTP to a running shahn: --url, env SHAHN_URL, default http://127.0.0.1:$PORT)
 *   shahn worker
 *   shahn backup --to FILE [--force] [--json] [--db PATH]
 *   shahn merchant-sync --store F [--key K] [--base-url U] [--hook-url H]
 *   shahn admin create --name N
 *   shahn support list | resolve ID --fulfilled|--refunded --reason "…" [--message "…"] | resend ID --reason "…"
 *   shahn modem probe /dev/ttyUSB0 [--ussd "*710#"] [--baud N] [--json]
 *   shahn modem fake [--sims N] [--profile P] [--latency A-B] [--dir D]
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { isAppError } from '@shahn/contract/core';
import { CatalogueError } from '../catalogue/load-catalogue-file.js';
import { createMerchant } from '../domain/create-merchant.js';
import { creditMerchant } from '../domain/credit-merchant.js';
import { describeStore, openReadyStore, StoreConfigError } from '../runtime/open-store.js';
import { buildDeps } from '../runtime/build-deps.js';
import { centimesToDzd } from '../lib/money.js';
import { SchemaVersionError, StoreOpenError, StoreUnavailableError } from '../store/store.js';
import { handleSignals } from '../runtime/signals.js';
import { CliHttpError, UsageError } from './cli-errors.js';
import type { MerchantSyncOptions } from './merchant-sync.js';
import type { FakeOptions } from './modem-commands.js';
import { setConsolePassword } from '../server/console/console-auth.js';
import { generatePassword } from '../server/console/passwords.js';
import { createAdmin, setAdminEnabled } from '../support/admins.js';
import { listUncertainOrders } from '../support/list-uncertain-orders.js';
import { resendOrder } from '../support/resend-order.js';
import { resolveOrder } from '../support/resolve-order.js';
import { SimulatorConfigError } from '../gateways/operator-simulator.js';
import { GatewaysConfigError } from '../gateways/gateways-config.js';

/** Every command that opens the store takes the same --db (SQLite file or PostgreSQL URL). */
const DB_OPTION = ['--db <path-or-url>', 'SQLite file or postgres:// URL (env SHAHN_DB, default ./data/shahn.db)'] as const;
/** Every command that talks HTTP to a running shahn (topup, webhooks) finds it with the same --url. */
const URL_OPTION = ['--url <url>', 'the server (env SHAHN_URL, default http://127.0.0.1:$PORT)'] as const;

/** A `shahn webhooks …` action, loaded when it runs. */
type WebhookCommand = keyof typeof import('./webhook-commands.js');
const webhooksAction =
  (name: WebhookCommand) =>
  async (...a: unknown[]): Promise<void> =>
    ((await import('./webhook-commands.js'))[name] as (...x: unknown[]) => Promise<void>)(...a);

// The commands that run the server, a worker, the sync kit or talk HTTP load their modules when they
// run (fastify, the SDK, the kit), so that the store commands start quickly.
function configFrom(opts: { db?: string; port?: string; host?: string }): Config {
  const env = { ...process.env };
  if (opts.db) env.SHAHN_DB = opts.db;
  if (opts.port) env.PORT = opts.port;
  if (opts.host) env.HOST = opts.host;
  return loadConfig(env);
}

async function withStore<T>(config: Config, fn: (deps: ReturnType<typeof buildDeps>) => Promise<T>): Promise<T> {
  const { store } = await openReadyStore(config);
  try {
    return await fn(buildDeps(config, store));
  } finally {
    await store.close();
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program.name('shahn').description('shahn (شحن): mobile top-up platform, OneClickDz Flexy API v3').exitOverride();

  program
    .command('serve')
    .description('Run the API, the web console and the order processor on the configured store')
    .option('--port <port>', 'port (env PORT, default 3000)')
    .option('--host <host>', 'host (env HOST, default 127.0.0.1)')
    .option(...DB_OPTION)
    .action(async (opts: { port?: string; host?: string; db?: string }) => {
      const config = configFrom(opts);
      const { startServer, DEMO_BALANCE_DZD } = await import('../runtime/serve.js');
      const server = await startServer(config);
      handleSignals(server, config.shutdownGraceMs);
      const base = server.url.replace('://127.0.0.1', '://localhost');
      const lines = [
        '',
        `shahn is listening on ${server.url}   (store: ${describeStore(config.db)})`,
        `  API reference: ${base}/docs   OpenAPI: ${base}/openapi.json`,
        ...(server.metricsUrl ? [`  Prometheus metrics: ${server.metricsUrl}`] : []),
      ];
      if (server.demo) {
        lines.push(
          '',
          `Demo merchant ${server.demo.username} created (balance ${DEMO_BALANCE_DZD} DZD). Its keys are shown only now:`,
          `  sandbox key:    ${server.demo.sandboxKey}`,
          `  production key: ${server.demo.productionKey}`,
          '',
          'Try a sandbox top-up:',
          `  curl -s -X POST ${base}/v3/mobile/send -H 'X-Access-Token: ${server.demo.sandboxKey}' -H 'Content-Type: application/json' \\`,
          `    -d '{"plan_code":"PREPAID_DJEZZY","MSSIDN":"0778037340","amount":500}'`,
          `  curl -s ${base}/v3/mobile/check-id/<topupId> -H 'X-Access-Token: ${server.demo.sandboxKey}'`,
        );
      }
      if (server.demoSkipped) {
        lines.push(
          '',
          `No demo merchant was created (${server.demoSkipped}; SHAHN_DEMO=true would create one, with a funded production key).`,
          'Create a merchant with `npx shahn merchant create --username +213…` and an admin with `npx shahn admin create --name …`.',
        );
      }
      if (server.demoAdminToken) {
        lines.push('', `Support (admin API) token for agent "support", shown only now:`, `  admin token:    ${server.demoAdminToken}`);
      }
      if (server.demoConsole) {
        lines.push(
          '',
          `Web console: ${base}/console   (passwords shown only now; change them with \`shahn merchant password\` / \`shahn admin password\`)`,
          ...server.demoConsole.map((l) => `  ${l.role === 'admin' ? 'support' : 'merchant'} login: ${l.login.padEnd(14)} password: ${l.password}`),
        );
      }
      lines.push('', config.processor ? `Order processor: running in this process (${config.processorConcurrency} calls at once). Gateways: ${server.gateways.describe()}.` : 'Order processor: off (SHAHN_PROCESSOR=false); run `shahn worker`.');
      process.stdout.write(`${lines.join('\n')}\n\n`);
    });

  program
    .command('migrate')
    .description('Apply pending schema migrations (SQLite or PostgreSQL) and load the catalogue into an empty store')
    .option(...DB_OPTION)
    .action(async (opts: { db?: string }) => {
      const config = configFrom(opts);
      const { store, migrated } = await openReadyStore(config, 'migrate');
      try {
        const r = migrated ?? { from: 0, to: 0 };
        process.stdout.write(r.from === r.to ? `The ${store.kind} store is up to date (schema ${r.to}).\n` : `Migrated the ${store.kind} store from schema ${r.from} to ${r.to}.\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('backup')
    .description('Copy the SQLite store while shahn runs on it, check the copy, then put it in place (PostgreSQL: use pg_dump)')
    .requiredOption('--to <file>', 'the backup file to write; its folder must exist')
    .option('--force', 'replace the file if it exists (refused otherwise)')
    .option('--json', 'print what was copied as one JSON object')
    .option(...DB_OPTION)
    .addHelpText(
      'after',
      '\nThe copy is written to a hidden temporary file beside --to, checked (PRAGMA integrity_check, the\n' +
        "schema version against the store's, the ledger audit) and only then renamed into place. Run it as\n" +
        'the user that owns the store.\n\n' +
        'Exit codes: 0 copied and checked; 1 nothing was copied (no store there, not a shahn store,\n' +
        '--to exists, a PostgreSQL store: use pg_dump, as the message says); 2 wrong options;\n' +
        '3 a copy was made but failed its checks: nothing was put in place, and the store itself is\n' +
        'damaged or breaks the ledger audit (the message says which).',
    )
    .action(async (opts: { to: string; force?: boolean; json?: boolean; db?: string }) => {
      const { backupCommand } = await import('./backup.js');
      process.exitCode = await backupCommand(configFrom(opts), opts);
    });

  program
    .command('worker')
    .description('Run an order processor (and alert delivery) without the HTTP API, on the configured store')
    .option(...DB_OPTION)
    .action(async (opts: { db?: string }) => {
      const config = configFrom(opts);
      const { runWorker } = await import('../runtime/worker.js');
      const worker = await runWorker(config);
      handleSignals(worker, config.shutdownGraceMs);
    });

  const admin = program.command('admin').description('Support agents and admins');
  admin
    .command('create')
    .description('Create an admin token (for the admin/support API and console); printed once')
    .requiredOption('--name <name>', 'the agent name recorded in the audit trail')
    .option('--json', 'print { name, token }')
    .option(...DB_OPTION)
    .action(async (opts: { name: string; json?: boolean; db?: string }) => {
      const created = await withStore(configFrom(opts), (deps) => createAdmin(deps, { name: opts.name }));
      process.stdout.write(opts.json ? `${JSON.stringify(created)}\n` : `Admin "${created.name}" created. Token (shown only now):\n  ${created.token}\n`);
    });

  admin
    .command('password')
    .description('Set the console password of an admin (support login at /console); ends its console sessions')
    .requiredOption('--name <name>', 'the admin name (from `shahn admin create`)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--password <password>', 'the password (visible to other users of this machine: prefer --password-stdin)')
    .option(...DB_OPTION)
    .action(async (opts: PasswordOptions & { name: string }) => {
      await setPasswordCommand(opts, 'admin', opts.name);
    });

  for (const [verb, isEnabled] of [['disable', false], ['enable', true]] as const) {
    admin
      .command(verb)
      .description(isEnabled ? 'Enable an admin again' : 'Disable an admin (a leaked token or password): its token and console login stop working, its console sessions end')
      .requiredOption('--name <name>', 'the admin name')
      .option('--reason <text>', 'why (recorded in the audit trail)')
      .option(...DB_OPTION)
      .action(async (opts: { name: string; reason?: string; db?: string }) => {
        await withStore(configFrom(opts), (deps) => setAdminEnabled(deps, { name: opts.name, isEnabled, ...(opts.reason ? { reason: opts.reason } : {}) }));
        process.stdout.write(`Admin "${opts.name}" ${isEnabled ? 'enabled' : 'disabled'}.\n`);
      });
  }

  const support = program.command('support').description('Review UNKNOWN_ERROR orders (works on the store directly, next to a running server)');
  support
    .command('list')
    .description('UNKNOWN_ERROR orders, oldest first')
    .option('--page <n>', 'page', '1')
    .option('--page-size <n>', 'orders per page (1-100)', '50')
    .option('--json', 'print the page as JSON')
    .option(...DB_OPTION)
    .action(async (opts: { page: string; pageSize: string; json?: boolean; db?: string }) => {
      const page = await withStore(configFrom(opts), (deps) =>
        listUncertainOrders(deps, { page: Number(opts.page) || 1, pageSize: Math.min(100, Math.max(1, Number(opts.pageSize) || 50)) }),
      );
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(page)}\n`);
        return;
      }
      if (page.items.length === 0) {
        process.stdout.write('No UNKNOWN_ERROR orders.\n');
        return;
      }
      process.stdout.write(`${page.pagination.totalResults} UNKNOWN_ERROR order(s), oldest first:\n`);
      for (const o of page.items) {
        const age = o.ageSeconds >= 3600 ? `${(o.ageSeconds / 3600).toFixed(1)} h` : `${Math.floor(o.ageSeconds / 60)} min`;
        process.stdout.write(`  ${o._id}  ${age.padStart(8)}  ${o.merchant.username}  ${o.plan_code} ${o.MSSIDN} ${o.topup_amount} DZD (charge ${o.balance_amount})  ref ${o.ref}\n`);
      }
    });
  support
    .command('resolve')
    .description('Resolve an UNKNOWN_ERROR order, exactly once')
    .argument('<id>', 'the order id')
    .option('--fulfilled', 'the top-up reached the customer')
    .option('--refunded', 'it did not: return the charge to the merchant')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .option('--message <arabic text>', "with --refunded: the customer's refund_message (default: the standard \"not done, refunded\" message)")
    .option('--actor <name>', 'who decides (default: cli:$USER)')
    .option('--json', 'print the order as JSON')
    .option(...DB_OPTION)
    .action(async (id: string, opts: { fulfilled?: boolean; refunded?: boolean; reason: string; message?: string; actor?: string; json?: boolean; db?: string }) => {
      if (Boolean(opts.fulfilled) === Boolean(opts.refunded)) throw new UsageError('say exactly one of --fulfilled or --refunded');
      const actor = opts.actor ?? `cli:${process.env.USER ?? 'unknown'}`;
      const order = await withStore(configFrom(opts), (deps) =>
        resolveOrder(deps, { actor, orderId: id, to: opts.fulfilled ? 'FULFILLED' : 'REFUNDED', reason: opts.reason, refundMessage: opts.message }),
      );
      process.stdout.write(opts.json ? `${JSON.stringify(order)}\n` : `Order ${order._id} is now ${order.status} (by ${actor}).\n`);
    });
  support
    .command('resend')
    .description('Re-send a REFUNDED order as a new order linked to it')
    .argument('<id>', 'the order id')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .option('--actor <name>', 'who decides (default: cli:$USER)')
    .option(...DB_OPTION)
    .action(async (id: string, opts: { reason: string; actor?: string; db?: string }) => {
      const actor = opts.actor ?? `cli:${process.env.USER ?? 'unknown'}`;
      const sent = await withStore(configFrom(opts), (deps) => resendOrder(deps, { actor, orderId: id, reason: opts.reason }));
      process.stdout.write(`Re-sent as ${sent.topupId} (ref ${sent.topupRef}); a running processor picks it up.\n`);
    });

  program
    .command('merchant-sync')
    .description("The merchant side: keep your order store in step with the API (poller + daily UNKNOWN_ERROR recheck) and deliver each transition once")
    .requiredOption('--store <path>', "the merchant's SQLite order store (created if missing)")
    .option('--key <key>', 'API key (env SHAHN_API_KEY)')
    .option('--base-url <url>', 'API host (env SHAHN_BASE_URL, default https://api.oneclickdz.com)')
    .option('--hook-url <url>', 'POST each transition here ({event, order}); retried until a 2xx. Without it: JSON lines on stdout')
    .option('--recheck-cron <pattern>', 'when to recheck UNKNOWN_ERROR orders older than 24 h', '0 0 * * *')
    .option('--tick-ms <ms>', 'how often to look for due orders', '1000')
    .action(async (opts: MerchantSyncOptions) => {
      const { runMerchantSync } = await import('./merchant-sync.js');
      const running = await runMerchantSync(opts);
      handleSignals(running, 10_000);
    });

  const merchant = program.command('merchant').description('Merchants and their balances');
  merchant
    .command('create')
    .description('Create a merchant with a SANDBOX and a PRODUCTION key (printed once)')
    .requiredOption('--username <phone>', 'the account phone number, +213…')
    .option('--balance <dzd>', 'opening balance in DZD (recorded as a DEPOSIT)', '0')
    .option('--json', 'print one JSON object { id, username, sandboxKey, productionKey }')
    .option(...DB_OPTION)
    .action(async (opts: { username: string; balance: string; json?: boolean; db?: string }) => {
      const created = await withStore(configFrom(opts), (deps) => createMerchant(deps, { username: opts.username, balance: opts.balance }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(created)}\n`);
      } else {
        process.stdout.write(
          `Merchant ${created.username} created (id ${created.id}). Keys, shown only now:\n` +
            `  sandbox key:    ${created.sandboxKey}\n  production key: ${created.productionKey}\n`,
        );
      }
    });

  merchant
    .command('password')
    .description("Set a merchant's console password (merchant login at /console); ends its console sessions")
    .requiredOption('--username <phone>', 'the account phone number, +213…')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--password <password>', 'the password (visible to other users of this machine: prefer --password-stdin)')
    .option(...DB_OPTION)
    .action(async (opts: PasswordOptions & { username: string }) => {
      await setPasswordCommand(opts, 'merchant', opts.username);
    });

  merchant
    .command('credit')
    .description("Credit a merchant's balance (a DEPOSIT ledger entry)")
    .requiredOption('--username <phone>', 'the account phone number, +213…')
    .requiredOption('--amount <dzd>', 'amount in DZD, at most two decimals')
    .option('--note <text>', 'a note for the transaction list', 'Deposit')
    .option('--json', 'print the ledger entry as JSON')
    .option(...DB_OPTION)
    .action(async (opts: { username: string; amount: string; note: string; json?: boolean; db?: string }) => {
      const entry = await withStore(configFrom(opts), (deps) =>
        creditMerchant(deps, { username: opts.username, amount: opts.amount, note: opts.note }),
      );
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ _id: entry.id, amount: centimesToDzd(entry.amount), oldBalance: centimesToDzd(entry.oldBalance), newBalance: centimesToDzd(entry.newBalance) })}\n`,
        );
      } else {
        process.stdout.write(
          `Credited ${centimesToDzd(entry.amount)} DZD to ${opts.username}: balance ${centimesToDzd(entry.oldBalance)} → ${centimesToDzd(entry.newBalance)} DZD\n`,
        );
      }
    });

  const topup = program.command('topup').description('Send a top-up and watch it, as a merchant would (talks HTTP to a running shahn)');
  topup
    .command('send')
    .description('Send a top-up, then show its status live until a final state')
    .requiredOption('--key <key>', 'an API key (sandbox or production)')
    .requiredOption('--plan <code>', 'plan code, e.g. PREPAID_DJEZZY')
    .requiredOption('--phone <mssidn>', 'the number to top up, e.g. 0778037340')
    .option('--amount <dzd>', 'amount in DZD (dynamic plans)')
    .option('--ref <ref>', 'your reference (generated when absent)')
    .option(...URL_OPTION)
    .option('--no-wait', 'print the topupId and return at once')
    .option('--interval <ms>', 'poll interval while watching', '1000')
    .option('--json', 'print the final top-up as JSON')
    .action(async (...a: unknown[]) => ((await import('./topup-commands.js')).topupSend as (...x: unknown[]) => Promise<void>)(...a));

  topup
    .command('status')
    .description('Show a top-up status, live until a final state')
    .argument('<id>', 'the topupId')
    .requiredOption('--key <key>', 'an API key of the same environment')
    .option(...URL_OPTION)
    .option('--no-wait', 'show the current status once')
    .option('--interval <ms>', 'poll interval while watching', '1000')
    .option('--json', 'print the final top-up as JSON')
    .action(async (...a: unknown[]) => ((await import('./topup-commands.js')).topupStatus as (...x: unknown[]) => Promise<void>)(...a));

  const webhooks = program
    .command('webhooks')
    .description("Your webhook endpoints, managed with your key (talks HTTP to a running shahn); an endpoint belongs to the key's environment")
    .addHelpText(
      'after',
      '\nThe server is --url (env SHAHN_URL, default http://127.0.0.1:$PORT), as for `shahn topup`;\n' +
        'the URL that receives the webhooks is `add --endpoint-url`. --json prints the answer\'s data\n' +
        "object. An error prints the contract's code and message on stderr and exits 1.\n\n" +
        'Example:\n  shahn webhooks add --key K --endpoint-url https://shop.example/hooks/shahn \\\n' +
        '    --events topup.fulfilled,topup.refunded',
    );
  const webhookCommand = (name: string, description: string) =>
    webhooks
      .command(name)
      .description(description)
      .requiredOption('--key <key>', 'an API key (SANDBOX or PRODUCTION: the environment whose endpoints you manage)')
      .option(...URL_OPTION)
      .option('--json', "print the answer's data object as JSON");
  webhookCommand('list', "The endpoints of the key's environment, one a line").action(webhooksAction('webhooksList'));
  webhookCommand('add', 'Add an endpoint; prints its signing secret, shown only now')
    .requiredOption('--endpoint-url <url>', 'where the webhooks go: https://… (http:// and private addresses only when the server sets SHAHN_WEBHOOK_ALLOW_PRIVATE)')
    .option('--events <types>', 'comma-separated event types (topup.handling, topup.fulfilled, topup.refunded, topup.unknown_error); default: all')
    .option('--description <text>', 'a note of yours (up to 200 characters)')
    .action(webhooksAction('webhooksAdd'));
  webhookCommand('delete', 'Delete an endpoint (its deliveries stop)').argument('<id>', 'the endpoint id (we_…)').action(webhooksAction('webhooksDelete'));
  webhookCommand('rotate-secret', 'A new signing secret, shown only now; the previous one keeps signing alongside it for 24 h')
    .argument('<id>', 'the endpoint id (we_…)')
    .action(webhooksAction('webhooksRotateSecret'));
  webhookCommand('test', 'Send a ping event to the endpoint; prints its event id').argument('<id>', 'the endpoint id (we_…)').action(webhooksAction('webhooksTest'));
  webhookCommand('deliveries', "The endpoint's deliveries, newest first, one a line")
    .argument('<id>', 'the endpoint id (we_…)')
    .option('--page <n>', 'page (default 1)')
    .option('--page-size <n>', 'deliveries per page, 1-100 (default 20)')
    .action(webhooksAction('webhooksDeliveries'));
  webhookCommand('delivery', 'One delivery: each attempt with its time, duration, status and the start of the answer, and the body sent')
    .argument('<id>', 'the endpoint id (we_…)')
    .argument('<delivery-id>', 'the delivery id (the last column of `deliveries`)')
    .action(webhooksAction('webhooksDelivery'));
  webhookCommand('enable', 'Put a disabled endpoint back in service (then replay what it missed)').argument('<id>', 'the endpoint id (we_…)').action(webhooksAction('webhooksEnable'));
  webhookCommand('replay', 'Deliver again every event of a time window, under the same event ids')
    .argument('<id>', 'the endpoint id (we_…)')
    .requiredOption('--from <time>', 'start of the window (ISO 8601 date-time, e.g. 2026-03-01T00:00:00Z)')
    .requiredOption('--to <time>', 'end of the window (ISO 8601 date-time), inclusive')
    .action(webhooksAction('webhooksReplay'));

  program
    .command('reconcile')
    .description('Compare the orders relayed to an upstream provider with its orders and debits; exits 1 when anything differs')
    .option('--from <time>', 'start of the window (ISO 8601; default 24 h before --to)')
    .option('--to <time>', 'end of the window (ISO 8601; default now)')
    .option('--gateway <name>', 'only this relay gateway of SHAHN_GATEWAYS')
    .option('--json', 'print the result as JSON')
    .option(...DB_OPTION)
    .action(async (opts: { from?: string; to?: string; gateway?: string; json?: boolean; db?: string }) => {
      const { reconcileCommand } = await import('./relay-commands.js');
      const clean = await reconcileCommand(configFrom(opts), opts);
      if (!clean) process.exitCode = 1;
    });

  const modem = program.command('modem').description('GSM modems: look at one, or run fake ones to try the modem gateway without hardware');
  modem
    .command('probe')
    .description('Print what a modem says (model, SIM state, network, signal); --ussd runs a balance or menu code. Never sends a top-up')
    .argument('<device>', 'the serial device (/dev/ttyUSB0)')
    .option('--ussd <code>', 'a USSD code to run and print the answer of (the balance code, e.g. *710#)')
    .option('--baud <rate>', 'baud rate', '115200')
    .option('--timeout <ms>', 'how long to wait for the USSD answer', '30000')
    .option('--json', 'print one JSON object')
    .action(async (...a: unknown[]) => ((await import('./modem-commands.js')).modemProbe as (...x: unknown[]) => Promise<void>)(...a));
  modem
    .command('fake')
    .description('Fake GSM modems on pseudo-terminal pairs (needs socat), and a SHAHN_GATEWAYS file that uses them; runs until Ctrl-C')
    .option('--dir <dir>', 'where the devices and the gateways file go', './data/fake-modems')
    .option('--sims <n>', 'how many SIMs', '2')
    .option('--operator <name>', 'the catalogue operator they serve', 'Djezzy')
    .option('--profile <name>', 'how they answer a top-up code (success, refusal, menu, arabic, silent, network-timeout, vanish, advice, late-sms, …)', 'success')
    .option('--latency <ms>', 'how long an answer takes: ms, or a range like 5000-12000', '3000-6000')
    .option('--balance <dzd>', 'each SIM\'s balance', '100000')
    .option('--pin <digits>', 'the transfer PIN the codes must carry', '1234')
    .action(async (opts: FakeOptions) => {
      const { modemFake } = await import('./modem-commands.js');
      handleSignals(await modemFake(opts), 5_000);
    });

  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (isAppError(err) || err instanceof UsageError || err instanceof CliHttpError || err instanceof ConfigError || err instanceof CatalogueError ||
        err instanceof SchemaVersionError || err instanceof StoreConfigError || err instanceof SimulatorConfigError || err instanceof StoreUnavailableError || err instanceof StoreOpenError || err instanceof GatewaysConfigError) {
      process.stderr.write(`shahn: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`shahn: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

interface PasswordOptions {
  passwordStdin?: boolean;
  password?: string;
  db?: string;
}

async function readFirstLine(): Promise<string> {
  let data = '';
  for await (const chunk of process.stdin) {
    data += String(chunk);
    if (data.includes('\n')) break;
  }
  return data.split(/\r?\n/)[0] ?? '';
}

/** `shahn merchant password` / `shahn admin password`: from stdin, the option, or a generated one printed once. */
async function setPasswordCommand(opts: PasswordOptions, role: 'admin' | 'merchant', login: string): Promise<void> {
  const generated = !opts.passwordStdin && opts.password === undefined;
  const password = opts.passwordStdin ? await readFirstLine() : (opts.password ?? generatePassword());
  await withStore(configFrom(opts), (deps) => setConsolePassword(deps, { role, login, password }));
  process.stdout.write(
    generated
      ? `Console password of ${role} "${login}" set. Generated password (shown only now):\n  ${password}\n`
      : `Console password of ${role} "${login}" set.\n`,
  );
}
