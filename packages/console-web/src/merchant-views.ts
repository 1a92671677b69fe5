/** The merchant's pages. */
import { api, qs } from './api.js';
import { histogram, line, stackedBars } from './charts.js';
import { arabic, auto, clear, dzd, field, h, statusBadge, when } from './dom.js';
import { t } from './i18n.js';
import { announce, dayLabel, errorText, hourLabel, notice, pager, table, type Pagination } from './ui.js';
import type { View } from './router.js';

export interface Topup {
  _id: string;
  ref: string;
  status: string;
  plan_code: string;
  MSSIDN: string;
  topup_amount: number;
  balance_amount: number;
  created_at: string;
  refund_message?: string;
  suggested_offers?: { typename: string; plan_code: string; amount: number }[];
  env?: string;
  retry_orderid?: string;
  follow_orderid?: string;
}

interface Transaction {
  _id: string;
  type: string;
  operation: string;
  amount: number;
  oldBalance: number;
  newBalance: number;
  objid: string;
  note: string;
  time: string;
}

interface KeyView {
  id: string;
  type: string;
  scope: string;
  isEnabled: boolean;
  allowedips: string[];
  createdAt: string;
}

interface Plan {
  code: string;
  name: string;
  operator: string;
  kind: 'dynamic' | 'fixed';
  min: number | null;
  max: number | null;
  amount: number | null;
  prefixes: string[];
}

export const STATUSES = ['PENDING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'];
const OPEN = new Set(['PENDING', 'HANDLING']);

interface SandboxClock {
  now: string;
  offsetSeconds: number;
}

/** 90061 → "1 d 1 h 1 min 1 s" (the parts that are not zero). */
function duration(seconds: number): string {
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['min', 60], ['s', 1]] as const) {
    const n = Math.floor(seconds / size);
    seconds -= n * size;
    if (n > 0) parts.push(`${n} ${unit}`);
  }
  return parts.join(' ') || '0 s';
}

export function topupMessage(o: Topup): HTMLElement {
  return h(
    'div',
    { class: 'msg' },
    arabic(o.refund_message),
    o.suggested_offers?.length ? h('ul', { class: 'offers' }, o.suggested_offers.map((x) => h('li', null, auto(x.typename), ` · ${x.plan_code} · ${dzd(x.amount)}`))) : null,
  );
}

export const merchantOverview: View = async (main) => {
  const env = h('select', { id: 'ov-env' }, h('option', { value: 'PRODUCTION' }, 'PRODUCTION'), h('option', { value: 'SANDBOX' }, 'SANDBOX'));
  const body = h('div', { class: 'charts' }, t('loading'));
  const balance = h('p', { class: 'big', id: 'balance' });
  clear(main, h('h1', { tabindex: '-1' }, t('overview')), h('section', { class: 'card' }, h('h2', null, t('balance')), balance), h('div', { class: 'narrow' }, field(t('environment'), env)), body);
  const load = async () => {
    const d = await api<{
      merchant: { username: string; balance: number };
      ordersOverTime: { buckets: { t: string; counts: Record<string, number> }[] };
      timeToFinal: { orders: number; medianSeconds: number | null; p95Seconds: number | null; bins: { label: string; count: number }[] };
      balanceOverTime: { t: string; balance: number }[];
    }>('GET', `/merchant/overview${qs({ env: env.value })}`);
    balance.textContent = dzd(d.merchant.balance);
    const ttf = d.timeToFinal;
    clear(
      body,
      stackedBars(`${t('ordersOverTime')} (${env.value}, 24 h)`, d.ordersOverTime.buckets, STATUSES, hourLabel),
      histogram(t('timeToFinal'), ttf.bins, `${ttf.orders} orders · ${t('median')} ${ttf.medianSeconds ?? '–'} s · ${t('p95')} ${ttf.p95Seconds ?? '–'} s`),
      line(t('balanceOverTime'), d.balanceOverTime.map((p) => ({ t: p.t, v: p.balance })), dzd, dayLabel),
    );
  };
  env.addEventListener('change', () => void load().catch((e: unknown) => clear(body, notice('error', errorText(e)))));
  await load();
};

export const merchantOrders: View = async (main) => {
  const state = { env: 'PRODUCTION', status: '', mssidn: '', ref: '', page: 1 };
  const envSel = h('select', null, ['PRODUCTION', 'SANDBOX'].map((e) => h('option', { value: e }, e)));
  const statusSel = h('select', null, h('option', { value: '' }, t('any')), STATUSES.map((s) => h('option', { value: s }, s)));
  const phone = h('input', { type: 'text', inputmode: 'numeric', pattern: '[0-9]{1,15}', autocomplete: 'off' });
  const ref = h('input', { type: 'text', autocomplete: 'off' });
  const results = h('div', { id: 'orders-results', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'filters', role: 'search' },
    field(t('environment'), envSel),
    field(t('status'), statusSel),
    field(t('phone'), phone),
    field(t('ref'), ref),
    h('button', { type: 'submit', class: 'primary' }, t('filter')),
  );
  let timer: number | undefined;
  const load = async () => {
    window.clearTimeout(timer);
    const d = await api<{ items: Topup[]; pagination: Pagination }>(
      'GET',
      `/merchant/orders${qs({ env: state.env, status: state.status, mssidn: state.mssidn, ref: state.ref, page: state.page, pageSize: 20 })}`,
    );
    const anyOpen = d.items.some((o) => OPEN.has(o.status));
    clear(
      results,
      anyOpen ? h('p', { class: 'muted' }, t('live')) : null,
      table(
        t('orders'),
        [t('created'), `ID / ${t('ref')}`, 'MSSIDN', t('plan'), t('status'), t('message')],
        d.items.map((o) => [
          h('span', { class: 'when' }, when(o.created_at)),
          h('div', null, h('code', { title: o._id }, o._id), h('div', { class: 'muted small ref' }, o.ref)),
          o.MSSIDN,
          h('div', null, o.plan_code, h('div', { class: 'small' }, dzd(o.topup_amount))),
          statusBadge(o.status),
          topupMessage(o),
        ]),
        (i) => ({ 'data-id': d.items[i]!._id, 'data-status': d.items[i]!.status }),
      ),
      pager(d.pagination, (p) => {
        state.page = p;
        void load();
      }),
    );
    if (anyOpen && results.isConnected) timer = window.setTimeout(() => void load().catch(() => undefined), 2000);
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    Object.assign(state, { env: envSel.value, status: statusSel.value, mssidn: phone.value.trim(), ref: ref.value.trim(), page: 1 });
    void load().catch((e: unknown) => clear(results, notice('error', errorText(e))));
  });
  clear(main, h('h1', { tabindex: '-1' }, t('orders')), form, results);
  await load();
  return () => window.clearTimeout(timer);
};

export const merchantTransactions: View = async (main) => {
  let page = 1;
  const out = h('div');
  clear(main, h('h1', { tabindex: '-1' }, t('transactions')), out);
  const load = async () => {
    const d = await api<{ balance: number; items: Transaction[]; pagination: Pagination }>('GET', `/merchant/transactions${qs({ page, pageSize: 20 })}`);
    clear(
      out,
      h('p', { class: 'big' }, `${t('balance')}: `, h('span', { id: 'tx-balance' }, dzd(d.balance))),
      table(
        t('transactions'),
        [t('time'), t('type'), t('operation'), t('amount'), t('balance'), t('note'), 'objid'],
        d.items.map((x) => [when(x.time), x.type, x.operation, dzd(x.amount), `${dzd(x.oldBalance)} → ${dzd(x.newBalance)}`, auto(x.note), h('code', null, x.objid)]),
        (i) => ({ 'data-type': d.items[i]!.type }),
      ),
      pager(d.pagination, (p) => {
        page = p;
        void load();
      }),
    );
  };
  await load();
};

function parseIps(text: string): string[] {
  return text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

export const merchantKeys: View = async (main) => {
  const list = h('div');
  const shown = h('div', { 'aria-live': 'polite' });
  const type = h('select', null, h('option', { value: 'SANDBOX' }, 'SANDBOX'), h('option', { value: 'PRODUCTION' }, 'PRODUCTION'));
  const scope = h('select', null, h('option', { value: 'READ-WRITE' }, 'READ-WRITE'), h('option', { value: 'READ-ONLY' }, 'READ-ONLY'));
  const ips = h('input', { type: 'text', autocomplete: 'off' });
  const showKey = (key: string) => clear(shown, notice('ok', [t('newKeyShownOnce'), ' ', h('code', { class: 'secret', id: 'new-key' }, key)]));
  const load = async () => {
    const keys = await api<KeyView[]>('GET', '/merchant/keys');
    clear(
      list,
      table(
        t('keys'),
        ['ID', t('type'), t('scope'), t('status'), t('allowedIps'), t('created'), t('actions')],
        keys.map((k) => {
          const ipInput = h('input', { type: 'text', value: k.allowedips.join(', '), 'aria-label': `${t('allowedIps')} ${k.id}` });
          return [
            h('code', null, k.id),
            k.type,
            k.scope,
            k.isEnabled ? t('enabled') : t('disabled'),
            h('div', { class: 'inline' }, ipInput, h('button', { type: 'button', onclick: () => void act(() => api('POST', `/merchant/keys/${k.id}`, { allowedips: parseIps(ipInput.value) })) }, t('save'))),
            when(k.createdAt),
            h(
              'div',
              { class: 'inline' },
              h('button', { type: 'button', onclick: () => void act(() => api('POST', `/merchant/keys/${k.id}`, { isEnabled: !k.isEnabled })) }, k.isEnabled ? t('disable') : t('enable')),
              h('button', { type: 'button', onclick: () => void act(async () => showKey((await api<{ key: string }>('POST', `/merchant/keys/${k.id}/rotate`)).key)) }, t('rotate')),
            ),
          ];
        }),
        (i) => ({ 'data-key-id': keys[i]!.id }),
      ),
    );
  };
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      clear(shown, notice('error', errorText(e)));
    }
  };
  const form = h('form', { class: 'filters' }, field(t('type'), type), field(t('scope'), scope), field(t('allowedIps'), ips), h('button', { type: 'submit', class: 'primary' }, t('createKey')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(async () => showKey((await api<{ key: string }>('POST', '/merchant/keys', { type: type.value, scope: scope.value, allowedips: parseIps(ips.value) })).key));
  });
  clear(main, h('h1', { tabindex: '-1' }, t('keys')), shown, list, h('section', { class: 'card' }, h('h2', null, t('createKey')), form));
  await load();
};

export const merchantTry: View = async (main) => {
  const plans = await api<Plan[]>('GET', '/merchant/plans');
  const plan = h('select', { required: true }, plans.map((p) => h('option', { value: p.code }, `${p.code} · ${p.name}`)));
  const phone = h('input', { type: 'tel', required: true, value: '', pattern: '0[0-9]{9}', autocomplete: 'off' });
  const amount = h('input', { type: 'number', min: 1, step: 1, value: '100' });
  const out = h('div', { class: 'try-out' });
  const form = h(
    'form',
    { class: 'filters' },
    field(t('plan'), plan),
    field(t('phone'), phone, t('tryHint')),
    field(`${t('amount')} (DZD)`, amount),
    h('button', { type: 'submit', class: 'primary', id: 'try-send' }, t('send')),
  );
  let timer: number | undefined;
  const steps = ['PENDING', 'HANDLING', 'FINAL'];
  const render = (o: Topup) => {
    const final = !OPEN.has(o.status);
    const reached = o.status === 'PENDING' ? 0 : o.status === 'HANDLING' ? 1 : 2;
    clear(
      out,
      h(
        'ol',
        { class: 'timeline', 'aria-label': t('status') },
        steps.map((s, i) => h('li', { class: i < reached ? 'done' : i === reached ? 'current' : '', 'aria-current': i === reached ? 'step' : undefined }, i === 2 ? (final ? o.status : 'FULFILLED / REFUNDED / UNKNOWN_ERROR') : s)),
      ),
      h('dl', { class: 'facts' }, h('dt', null, 'ID'), h('dd', null, h('code', null, o._id)), h('dt', null, t('status')), h('dd', { id: 'try-status' }, statusBadge(o.status)), h('dt', null, t('message')), h('dd', null, topupMessage(o))),
    );
  };
  let current: string | undefined;
  const poll = async (id: string) => {
    window.clearTimeout(timer);
    current = id;
    const o = await api<Topup>('GET', `/merchant/orders/${id}`);
    render(o);
    announce(`${o._id}: ${o.status}`);
    if (OPEN.has(o.status) && out.isConnected) timer = window.setTimeout(() => void poll(id).catch(() => undefined), 1000);
  };

  // The sandbox clock: move this merchant's sandbox forward (its orders and their webhooks follow).
  const clockText = h('p', { id: 'try-clock', 'aria-live': 'polite' });
  const showClock = (c: SandboxClock) => {
    const at = `${t('clockNow')}: ${c.now.replace('T', ' ').slice(0, 19)} UTC`;
    clockText.textContent = c.offsetSeconds === 0 ? `${at} (${t('clockReal')})` : `${at} · ${t('clockAhead')} ${duration(c.offsetSeconds)}`;
  };
  const clockNotice = h('div');
  const moveClock = (path: string, body?: unknown) => {
    api<SandboxClock>('POST', path, body)
      .then((c) => {
        showClock(c);
        clear(clockNotice);
        if (current) return poll(current);
        return undefined;
      })
      .catch((e: unknown) => clear(clockNotice, notice('error', errorText(e))));
  };
  const clockCard = h(
    'section',
    { class: 'card', 'aria-labelledby': 'try-clock-title' },
    h('h2', { id: 'try-clock-title' }, t('sandboxClock')),
    h('p', { class: 'hint' }, t('clockHint')),
    clockText,
    h(
      'div',
      { class: 'inline' },
      ([[5, '5 s'], [15, '15 s'], [3600, '1 h'], [86_400, '1 d']] as const).map(([seconds, label]) => {
        const b = h('button', { type: 'button', 'data-advance': String(seconds) }, `${t('advanceBy')} ${label}`);
        b.addEventListener('click', () => moveClock('/merchant/sandbox-clock/advance', { seconds }));
        return b;
      }),
      (() => {
        const b = h('button', { type: 'button', id: 'try-clock-reset' }, t('resetClock'));
        b.addEventListener('click', () => moveClock('/merchant/sandbox-clock/reset'));
        return b;
      })(),
    ),
    clockNotice,
  );
  showClock(await api<SandboxClock>('GET', '/merchant/sandbox-clock'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    window.clearTimeout(timer);
    const chosen = plans.find((p) => p.code === plan.value);
    const body: Record<string, unknown> = { plan_code: plan.value, MSSIDN: phone.value.trim() };
    if (chosen?.kind === 'dynamic') body.amount = Number(amount.value);
    api<{ topupId: string }>('POST', '/merchant/try', body)
      .then((d) => poll(d.topupId))
      .catch((e: unknown) => clear(out, notice('error', errorText(e))));
  });
  const syncAmount = () => {
    const chosen = plans.find((p) => p.code === plan.value);
    // A number of the plan's operator, unless the person typed a sandbox test number.
    const prefix = chosen?.prefixes[0];
    if (prefix && !phone.value.startsWith('06000000') && !chosen.prefixes.some((x) => phone.value.startsWith(x))) phone.value = `${prefix}78037340`;
    amount.disabled = chosen?.kind !== 'dynamic';
    if (chosen?.kind === 'dynamic') {
      if (chosen.min !== null) amount.min = String(chosen.min);
      if (chosen.max !== null) amount.max = String(chosen.max);
    }
  };
  plan.addEventListener('change', syncAmount);
  syncAmount();
  clear(main, h('h1', { tabindex: '-1' }, t('tryIt')), form, out, clockCard);
  return () => window.clearTimeout(timer);
};
