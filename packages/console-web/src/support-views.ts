/** Support's pages. Every change asks for a reason and a confirmation; the server audits it. */
import { api, qs } from './api.js';
import { histogram, stackedBars } from './charts.js';
import { age, auto, clear, dzd, field, h, statusBadge, when } from './dom.js';
import { t } from './i18n.js';
import { topupMessage, type Topup } from './merchant-views.js';
import type { View } from './router.js';
import { errorText, hourLabel, notice, openDialog, pager, table, type Pagination } from './ui.js';

interface SupportOrder extends Topup {
  env: string;
  merchant: { id: string; username: string };
  ageSeconds: number;
}

/** Where an order's call went and what came back (a SIM, its answers). */
interface GatewayCall {
  channel: string | null;
  callStartedAt: string | null;
  answers: Record<string, unknown>[];
}

/** A modem gateway's SIM as its driver last reported it. */
interface Channel {
  gateway: string;
  sim: string;
  operator: string;
  usable: boolean;
  stale: boolean;
  reportedAt: string;
  state: string | null;
  busy: boolean;
  signal: number | null;
  balance: number | null;
  balanceEstimated: boolean;
  lastAnswer: string | null;
  lastAnswerAt: string | null;
  ordersToday: number;
  failures: number;
  reason: string | null;
  retryAt: string | null;
}

interface Audit {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  details: Record<string, unknown>;
}

function reasonField(): HTMLElement {
  return field(t('reason'), h('textarea', { name: 'reason', required: true, minlength: 1, maxlength: 1000, rows: 3 }));
}

function reasonOf(form: HTMLFormElement): string {
  return (form.elements.namedItem('reason') as HTMLTextAreaElement).value;
}

/** The resolve dialog: FULFILLED or REFUNDED, a reason, then confirm. */
export function resolveDialog(o: SupportOrder, done: () => void): void {
  openDialog(
    t('resolveTitle'),
    [
      h('p', null, h('code', null, o._id), ` · ${o.merchant.username} · ${o.MSSIDN} · ${dzd(o.topup_amount)}`),
      o.refund_message ? h('p', { class: 'ar', dir: 'rtl', lang: 'ar' }, o.refund_message) : null,
      h(
        'fieldset',
        null,
        h('legend', null, t('status')),
        h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'to', value: 'FULFILLED', required: true }), t('fulfilled')),
        h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'to', value: 'REFUNDED' }), t('refunded')),
      ),
      reasonField(),
      field(
        t('customerMessage'),
        h('textarea', { name: 'refundMessage', maxlength: 500, rows: 2, dir: 'rtl', lang: 'ar', placeholder: t('customerMessageHint') }),
      ),
    ],
    async (form) => {
      const to = (form.elements.namedItem('to') as RadioNodeList).value;
      const message = (form.elements.namedItem('refundMessage') as HTMLTextAreaElement).value.trim();
      await api('POST', `/support/orders/${o._id}/resolve`, { status: to, reason: reasonOf(form), ...(to === 'REFUNDED' && message ? { refundMessage: message } : {}) });
      done();
    },
  );
}

function orderRows(items: SupportOrder[], reload: () => void) {
  return items.map((o) => [
    age(o.ageSeconds),
    h('div', null, h('a', { href: `#/order/${o._id}`, title: o._id }, h('code', null, o._id)), h('div', { class: 'muted small' }, o.env)),
    h('div', null, o.MSSIDN, h('div', { class: 'muted small' }, o.merchant.username)),
    h('div', null, o.plan_code, h('div', { class: 'small' }, dzd(o.topup_amount))),
    statusBadge(o.status),
    topupMessage(o),
    o.status === 'UNKNOWN_ERROR' ? h('button', { type: 'button', class: 'primary', 'data-resolve': o._id, onclick: () => resolveDialog(o, reload) }, t('resolve')) : '',
  ]);
}

const orderHead = () => [t('age'), 'ID', `MSSIDN / ${t('merchant')}`, t('plan'), t('status'), t('message'), t('actions')];

export const supportQueue: View = async (main) => {
  let page = 1;
  const out = h('div');
  clear(main, h('h1', { tabindex: '-1' }, t('queue')), out);
  const load = async () => {
    const d = await api<{ items: SupportOrder[]; pagination: Pagination }>('GET', `/support/queue${qs({ page, pageSize: 20 })}`);
    const reload = () => void load();
    clear(
      out,
      h('p', { class: 'muted' }, `${d.pagination.totalResults} UNKNOWN_ERROR`),
      table(t('queue'), orderHead(), orderRows(d.items, reload), (i) => ({ 'data-id': d.items[i]!._id })),
      pager(d.pagination, (p) => {
        page = p;
        reload();
      }),
    );
  };
  await load();
};

export const supportSearch: View = async (main) => {
  const q = h('input', { type: 'search', required: true, maxlength: 128, autocomplete: 'off' });
  const out = h('div', { 'aria-live': 'polite' });
  const run = async () => {
    const d = await api<{ items: SupportOrder[] }>('GET', `/support/search${qs({ q: q.value.trim() })}`);
    clear(out, table(t('search'), orderHead(), orderRows(d.items, () => void run()), (i) => ({ 'data-id': d.items[i]!._id })));
  };
  const form = h('form', { class: 'filters', role: 'search' }, field(t('search'), q, t('searchHint')), h('button', { type: 'submit', class: 'primary' }, t('search')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run().catch((e: unknown) => clear(out, notice('error', errorText(e))));
  });
  clear(main, h('h1', { tabindex: '-1' }, t('search')), form, out);
};

export const supportOrder: View = async (main, params) => {
  const load = async () => {
    const d = await api<{ order: SupportOrder; gateway: GatewayCall | null; audit: Audit[] }>('GET', `/support/orders/${encodeURIComponent(params[0] ?? '')}`);
    const o = d.order;
    clear(
      main,
      h('h1', { tabindex: '-1' }, h('code', null, o._id)),
      h(
        'dl',
        { class: 'facts card' },
        [
          [t('status'), statusBadge(o.status)],
          [t('merchant'), o.merchant.username],
          [t('environment'), o.env],
          [t('ref'), o.ref],
          ['MSSIDN', o.MSSIDN],
          [t('plan'), o.plan_code],
          [t('amount'), dzd(o.topup_amount)],
          [t('created'), `${when(o.created_at)} (${age(o.ageSeconds)})`],
          [t('message'), topupMessage(o)],
          ['retry_orderid', o.retry_orderid ?? ''],
          ['follow_orderid', o.follow_orderid ?? ''],
        ].map(([k, v]) => [h('dt', null, k as string), h('dd', null, v as HTMLElement | string)]),
      ),
      o.status === 'UNKNOWN_ERROR' ? h('button', { type: 'button', class: 'primary', onclick: () => resolveDialog(o, () => void load()) }, t('resolve')) : null,
      o.status === 'REFUNDED' && !o.retry_orderid
        ? h(
            'button',
            {
              type: 'button',
              onclick: () =>
                openDialog(`${t('resend')}: ${o._id}`, [h('p', null, t('resendHint')), reasonField()], async (form) => {
                  const r = await api<{ topupId: string }>('POST', `/support/orders/${o._id}/resend`, { reason: reasonOf(form) });
                  location.hash = `#/order/${r.topupId}`;
                }),
            },
            t('resend'),
          )
        : null,
      d.gateway ? gatewayCall(d.gateway) : null,
      h('h2', null, t('audit')),
      auditTable(d.audit),
    );
  };
  await load();
};

/** The channel that carried the call and each answer recorded: the decoded text, and the raw one when it differs (UCS2 hex). */
function gatewayCall(g: GatewayCall): HTMLElement {
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
  return h(
    'section',
    { class: 'card' },
    h('h2', null, t('gatewayCall')),
    h('p', null, `${t('channel')}: `, h('code', null, g.channel ?? ''), ` · ${t('callStarted')}: ${when(g.callStartedAt ?? undefined)}`),
    table(
      t('answers'),
      [t('time'), 'Outcome', 'Text', 'Raw', t('details')],
      g.answers.map((a) => {
        const sms = a.sms as Record<string, unknown> | undefined;
        const text = str(sms ? sms.text : a.text);
        const raw = str(a.raw);
        const { at, outcome, text: _t, raw: _r, sms: _s, ...rest } = a;
        return [when(str(at)), str(outcome) || str(a.why) || '', auto(text), raw && raw !== text ? h('code', { class: 'details' }, raw) : '', h('code', { class: 'details' }, JSON.stringify(rest))];
      }),
    ),
  );
}

function channelState(c: Channel): HTMLElement {
  const state = c.stale ? 'stale' : c.busy && c.state === 'ready' ? 'busy' : (c.state ?? '');
  const cls = state === 'ready' ? 'st-FULFILLED' : state === 'busy' ? 'st-HANDLING' : state === 'starting' ? 'st-PENDING' : 'st-UNKNOWN_ERROR';
  return h('span', { class: `badge ${cls}` }, state);
}

/** The SIMs of the modem gateways: state, signal, balance, last answer, orders today. */
function channelsTable(channels: Channel[]): HTMLElement {
  return table(
    t('sims'),
    ['SIM', t('operators'), t('status'), t('signal'), t('balance'), t('lastAnswer'), t('ordersToday'), t('note')],
    channels.map((c) => [
      h('code', null, `${c.gateway}/${c.sim}`),
      c.operator,
      channelState(c),
      c.signal === null || c.signal === 99 ? '' : `${-113 + 2 * c.signal} dBm`,
      c.balance === null ? '' : `${dzd(c.balance)}${c.balanceEstimated ? ` (${t('estimated')})` : ''}`,
      c.lastAnswer ? h('span', null, auto(c.lastAnswer), h('br'), h('small', null, when(c.lastAnswerAt ?? undefined))) : '',
      String(c.ordersToday),
      c.stale
        ? `${t('notSeen')} ${when(c.reportedAt)}`
        : [c.reason, c.retryAt ? `${t('retryAt')} ${when(c.retryAt)}` : '', c.failures ? `${c.failures} ${t('failedInRow')}` : ''].filter(Boolean).join(' · '),
    ]),
    (i) => ({ 'data-sim': channels[i]!.sim }),
  );
}

function auditTable(items: Audit[]): HTMLElement {
  return table(
    t('audit'),
    [t('time'), t('actor'), t('action'), t('target'), t('reason'), t('details')],
    items.map((a) => [when(a.at), a.actor, a.action, h('code', null, a.target), auto(a.reason), h('code', { class: 'details' }, JSON.stringify(a.details))]),
  );
}

export const supportMerchants: View = async (main) => {
  let page = 1;
  const out = h('div');
  const side = h('div', { 'aria-live': 'polite' });
  clear(main, h('h1', { tabindex: '-1' }, t('merchants')), out, side);
  const load = async () => {
    const d = await api<{ items: { id: string; username: string; balance: number; createdAt: string }[]; pagination: Pagination }>('GET', `/support/merchants${qs({ page, pageSize: 20 })}`);
    clear(
      out,
      table(
        t('merchants'),
        [t('merchant'), t('balance'), t('created'), t('actions')],
        d.items.map((m) => [
          m.username,
          h('span', { class: 'balance' }, dzd(m.balance)),
          when(m.createdAt),
          h(
            'div',
            { class: 'inline' },
            h('button', { type: 'button', 'data-credit': m.username, onclick: () => creditDialog(m.username, () => void load()) }, t('credit')),
            h('button', { type: 'button', onclick: () => void showKeys(m.username) }, t('keys')),
            h('button', { type: 'button', onclick: () => void showTransactions(m.username) }, t('transactions')),
          ),
        ]),
        (i) => ({ 'data-merchant': d.items[i]!.username }),
      ),
      pager(d.pagination, (p) => {
        page = p;
        void load();
      }),
    );
  };
  const showKeys = async (username: string) => {
    const keys = await api<{ id: string; type: string; scope: string; isEnabled: boolean; allowedips: string[]; createdAt: string }[]>('GET', `/support/keys${qs({ username })}`);
    const reload = () => void showKeys(username);
    clear(
      side,
      h('h2', null, `${t('keys')}: ${username}`),
      table(
        t('keys'),
        ['ID', t('type'), t('scope'), t('status'), t('allowedIps'), t('actions')],
        keys.map((k) => [
          h('code', null, k.id),
          k.type,
          k.scope,
          k.isEnabled ? t('enabled') : t('disabled'),
          k.allowedips.join(', ') || t('any'),
          h(
            'div',
            { class: 'inline' },
            h('button', { type: 'button', onclick: () => keyDialog(`${k.isEnabled ? t('disable') : t('enable')} ${k.id}`, `/support/keys/${k.id}`, { isEnabled: !k.isEnabled }, reload) }, k.isEnabled ? t('disable') : t('enable')),
            h('button', { type: 'button', onclick: () => keyDialog(`${t('rotate')} ${k.id}`, `/support/keys/${k.id}/rotate`, {}, reload) }, t('rotate')),
          ),
        ]),
      ),
    );
  };
  const showTransactions = async (username: string) => {
    const d = await api<{ balance: number; items: { time: string; type: string; operation: string; amount: number; newBalance: number; note: string }[] }>('GET', `/support/merchants/transactions${qs({ username, pageSize: 50 })}`);
    clear(
      side,
      h('h2', null, `${t('transactions')}: ${username} (${dzd(d.balance)})`),
      table(t('transactions'), [t('time'), t('type'), t('operation'), t('amount'), t('balance'), t('note')], d.items.map((x) => [when(x.time), x.type, x.operation, dzd(x.amount), dzd(x.newBalance), auto(x.note)])),
    );
  };
  const keyDialog = (title: string, path: string, body: Record<string, unknown>, done: () => void) =>
    openDialog(title, reasonField(), async (form) => {
      const r = await api<{ key?: string }>('POST', path, { ...body, reason: reasonOf(form) });
      done();
      if (r.key) side.prepend(notice('ok', [t('newKeyShownOnce'), ' ', h('code', { class: 'secret' }, r.key)]));
    });
  await load();
};

export function creditDialog(username: string, done: () => void): void {
  openDialog(
    `${t('creditTitle')}: ${username}`,
    [field(`${t('amount')} (DZD)`, h('input', { name: 'amount', type: 'number', min: '0.01', step: '0.01', required: true })), reasonField()],
    async (form) => {
      const amount = (form.elements.namedItem('amount') as HTMLInputElement).value;
      await api('POST', '/support/merchants/credit', { username, amount, reason: reasonOf(form) });
      done();
    },
  );
}

export const supportOperators: View = async (main) => {
  let timer: number | undefined;
  const load = async () => {
    window.clearTimeout(timer);
    const d = await api<{ operators: { healthKey: string; operators: string[]; gateways: string[]; up: boolean; latencyMs?: { min: number; max: number }; rates?: Record<string, number> }[]; channels: Channel[]; uncertainOrders: number; simulator: boolean }>('GET', '/support/health');
    clear(
      main,
      h('h1', { tabindex: '-1' }, t('operators')),
      h('p', null, `${t('queue')}: `, h('a', { href: '#/queue' }, String(d.uncertainOrders))),
      table(
        t('operators'),
        [t('operators'), t('gateways'), t('status'), 'Latency', 'Outcome weights', t('actions')],
        d.operators.map((o) => [
          `${o.healthKey} (${o.operators.join(', ')})`,
          o.gateways.join(', '),
          h('span', { class: `badge ${o.up ? 'st-FULFILLED' : 'st-UNKNOWN_ERROR'}` }, o.up ? t('up') : t('down')),
          o.latencyMs ? `${o.latencyMs.min / 1000}–${o.latencyMs.max / 1000} s` : '',
          o.rates ? Object.entries(o.rates).map(([k, v]) => `${k} ${v}`).join(', ') : '',
          d.simulator && o.latencyMs
            ? h('button', {
                type: 'button',
                onclick: () =>
                  openDialog(`${o.healthKey}: ${o.up ? t('down') : t('up')}`, reasonField(), async (form) => {
                    await api('POST', `/support/operators/${o.healthKey}`, { up: !o.up, reason: reasonOf(form) });
                    void load();
                  }),
              }, o.up ? t('down') : t('up'))
            : '',
        ]),
      ),
      ...(d.channels.length > 0 ? [h('h2', null, t('sims')), h('p', null, t('simsHint')), channelsTable(d.channels)] : []),
    );
    // The SIMs change as they work: refresh while this page is shown.
    if (d.channels.length > 0 && main.isConnected) timer = window.setTimeout(() => void (location.hash === '#/operators' ? load().catch(() => undefined) : undefined), 5000);
  };
  await load();
};

export const supportAudit: View = async (main) => {
  let page = 1;
  const out = h('div');
  clear(main, h('h1', { tabindex: '-1' }, t('audit')), out);
  const load = async () => {
    const d = await api<{ items: Audit[]; pagination: Pagination }>('GET', `/support/audit${qs({ page, pageSize: 25 })}`);
    clear(out, auditTable(d.items), pager(d.pagination, (p) => {
      page = p;
      void load();
    }));
  };
  await load();
};

export const supportOverview: View = async (main) => {
  const d = await api<{
    outcomesOverTime: { buckets: { t: string; counts: Record<string, number> }[]; open: { PENDING: number; HANDLING: number } };
    timeToFinal: { orders: number; medianSeconds: number | null; p95Seconds: number | null; bins: { label: string; count: number }[] };
  }>('GET', '/support/stats');
  const ttf = d.timeToFinal;
  const open = d.outcomesOverTime.open;
  clear(
    main,
    h('h1', { tabindex: '-1' }, t('overview')),
    h('section', { class: 'card' }, h('h2', null, t('openNow')), h('p', { class: 'big', id: 'open-orders' }, `PENDING ${open.PENDING} · HANDLING ${open.HANDLING}`)),
    h(
      'div',
      { class: 'charts' },
      stackedBars(`${t('outcomesOverTime')} (PRODUCTION, 24 h)`, d.outcomesOverTime.buckets, ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'], hourLabel),
      histogram(t('timeToFinal'), ttf.bins, `${ttf.orders} orders · ${t('median')} ${ttf.medianSeconds ?? '–'} s · ${t('p95')} ${ttf.p95Seconds ?? '–'} s`),
    ),
  );
};
