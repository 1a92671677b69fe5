/**
 * The merchant's webhooks page: endpoints per environment (added, tested, rotated, enabled again,
 * deleted), each endpoint's deliveries with every attempt and what the endpoint answered, and replay
 * of a time window.
 */
import { api, qs } from './api.js';
import { clear, field, h, when } from './dom.js';
import { t } from './i18n.js';
import { errorText, notice, openDialog, pager, table, type Pagination } from './ui.js';
import type { View } from './router.js';

const EVENT_TYPES = ['topup.handling', 'topup.fulfilled', 'topup.refunded', 'topup.unknown_error'];

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  createdAt: string;
  disabledAt: string | null;
  disabledReason: string | null;
}

interface Delivery {
  id: string;
  eventId: string;
  type: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

interface Attempt {
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  response: string | null;
  error: string | null;
}

/** A datetime-local input's value as ISO 8601 (the browser's time zone). */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : '');

function deliveryState(d: Delivery): string {
  if (d.deliveredAt) return `${t('delivered')} ${when(d.deliveredAt)}`;
  if (d.nextAttemptAt) return `${t('nextAttempt')} ${when(d.nextAttemptAt)}`;
  return t('gaveUp');
}

export const merchantWebhooks: View = async (main) => {
  const env = h('select', { id: 'wh-env' }, h('option', { value: 'PRODUCTION' }, 'PRODUCTION'), h('option', { value: 'SANDBOX' }, 'SANDBOX'));
  const shown = h('div', { 'aria-live': 'polite', id: 'wh-notice' });
  const list = h('div', { id: 'wh-endpoints' });
  const detail = h('div', { id: 'wh-detail' });
  const say = (kind: 'ok' | 'error' | 'info', text: Parameters<typeof notice>[1]) => clear(shown, notice(kind, text));
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      say('error', errorText(e));
    }
  };

  const load = async () => {
    const { items } = await api<{ items: Endpoint[] }>('GET', `/merchant/webhooks${qs({ env: env.value })}`);
    const disabled = items.filter((e) => e.disabledAt);
    clear(
      list,
      disabled.map((e) => notice('error', [h('strong', null, t('endpointDisabled')), ` ${e.url}: ${e.disabledReason ?? ''}. `, t('endpointDisabledHint')])),
      table(
        t('endpoints'),
        [t('url'), t('events'), t('status'), t('created'), t('actions')],
        items.map((e) => [
          h('div', null, h('code', null, e.url), e.description ? h('div', { class: 'muted' }, e.description) : null),
          e.events.length ? e.events.join(', ') : t('allEvents'),
          e.disabledAt ? `${t('disabled')} (${e.disabledReason ?? ''})` : t('enabled'),
          when(e.createdAt),
          h(
            'div',
            { class: 'inline' },
            h('button', { type: 'button', onclick: () => void showDeliveries(e, 1) }, t('deliveries')),
            e.disabledAt
              ? h('button', { type: 'button', onclick: () => void act(async () => (await api('POST', `/merchant/webhooks/${e.id}/enable`), say('ok', t('endpointEnabled')))) }, t('enable'))
              : h('button', { type: 'button', onclick: () => void act(async () => say('ok', `${t('testSent')} ${(await api<{ eventId: string }>('POST', `/merchant/webhooks/${e.id}/test`)).eventId}`)) }, t('sendTest')),
            h(
              'button',
              {
                type: 'button',
                onclick: () =>
                  void act(async () => {
                    const r = await api<{ secret: string; previousSecretExpiresAt: string }>('POST', `/merchant/webhooks/${e.id}/rotate-secret`);
                    say('ok', [t('secretShownOnce'), ' ', h('code', { class: 'secret', id: 'wh-secret' }, r.secret), ` ${t('previousSecretUntil')} ${when(r.previousSecretExpiresAt)}.`]);
                  }),
              },
              t('rotateSecret'),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                onclick: () =>
                  openDialog(`${t('deleteEndpoint')}: ${e.url}`, h('p', null, t('deleteEndpointHint')), async () => {
                    await api('POST', `/merchant/webhooks/${e.id}/delete`);
                    clear(detail);
                    await load();
                  }),
              },
              t('delete'),
            ),
          ),
        ]),
        (i) => ({ 'data-endpoint-id': items[i]!.id }),
      ),
    );
  };

  const showDeliveries = async (e: Endpoint, page: number) => {
    const d = await api<{ items: Delivery[]; pagination: Pagination }>('GET', `/merchant/webhooks/${e.id}/deliveries${qs({ page, pageSize: 20 })}`);
    const attempts = h('div', { id: 'wh-attempts' });
    const from = h('input', { type: 'datetime-local', required: true, step: 1 });
    const to = h('input', { type: 'datetime-local', required: true, step: 1 });
    const replay = h('form', { class: 'filters', id: 'wh-replay' }, field(t('from'), from), field(t('to'), to), h('button', { type: 'submit' }, t('replay')));
    replay.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void act(async () => {
        const r = await api<{ replayed: number }>('POST', `/merchant/webhooks/${e.id}/replay`, { from: isoOf(from.value), to: isoOf(to.value) });
        say('ok', `${t('replayed')}: ${r.replayed}`);
        await showDeliveries(e, 1);
      });
    });
    clear(
      detail,
      h(
        'section',
        { class: 'card' },
        h('h2', null, `${t('deliveries')}: `, h('code', null, e.url)),
        table(
          t('deliveries'),
          [t('event'), t('type'), t('created'), t('attempts'), t('lastStatus'), t('status'), t('details')],
          d.items.map((x) => [
            h('code', null, x.eventId),
            x.type,
            when(x.createdAt),
            String(x.attempts),
            x.lastStatusCode === null ? (x.lastError ?? '') : String(x.lastStatusCode),
            deliveryState(x),
            h('button', { type: 'button', onclick: () => void showAttempts(e, x, attempts).catch((err: unknown) => clear(attempts, notice('error', errorText(err)))) }, t('attemptLog')),
          ]),
          (i) => ({ 'data-delivery-id': d.items[i]!.id }),
        ),
        pager(d.pagination, (p) => void showDeliveries(e, p)),
        attempts,
        h('h3', null, t('replay')),
        h('p', { class: 'hint' }, t('replayHint')),
        replay,
      ),
    );
  };

  const showAttempts = async (e: Endpoint, x: Delivery, into: HTMLElement) => {
    const d = await api<Delivery & { attemptLog: Attempt[]; body: string | null }>('GET', `/merchant/webhooks/${e.id}/deliveries/${x.id}`);
    clear(
      into,
      h('h3', null, `${t('attemptLog')}: `, h('code', null, d.eventId)),
      table(
        t('attemptLog'),
        ['#', t('time'), t('duration'), t('lastStatus'), t('response'), t('error')],
        d.attemptLog.map((a) => [String(a.attempt), when(a.at), `${a.durationMs} ms`, a.statusCode === null ? '—' : String(a.statusCode), a.response ? h('pre', { class: 'response' }, a.response) : '', a.error ?? '']),
      ),
      d.body ? [h('h3', null, t('bodySent')), h('pre', { class: 'response', id: 'wh-body' }, d.body)] : null,
    );
  };

  const url = h('input', { type: 'url', required: true, placeholder: 'https://shop.example/webhooks/shahn', autocomplete: 'off' });
  const description = h('input', { type: 'text', maxlength: 200, autocomplete: 'off' });
  const boxes = EVENT_TYPES.map((type) => h('input', { type: 'checkbox', value: type }));
  const events = h('fieldset', { class: 'events' }, h('legend', null, `${t('events')} (${t('allEventsHint')})`), boxes.map((b) => h('label', null, b, ` ${b.value}`)));
  const form = h('form', { class: 'filters', id: 'wh-add' }, field(t('url'), url), field(t('description'), description), events, h('button', { type: 'submit', class: 'primary' }, t('addEndpoint')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(async () => {
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      const made = await api<Endpoint & { secret: string }>('POST', '/merchant/webhooks', { env: env.value, url: url.value.trim(), events: chosen, ...(description.value.trim() ? { description: description.value.trim() } : {}) });
      say('ok', [t('secretShownOnce'), ' ', h('code', { class: 'secret', id: 'wh-secret' }, made.secret)]);
      form.reset();
    });
  });
  env.addEventListener('change', () => {
    clear(detail);
    clear(shown);
    void load().catch((e: unknown) => say('error', errorText(e)));
  });
  clear(
    main,
    h('h1', { tabindex: '-1' }, t('webhooks')),
    h('p', { class: 'hint' }, t('webhooksHint')),
    h('div', { class: 'narrow' }, field(t('environment'), env)),
    shown,
    list,
    detail,
    h('section', { class: 'card' }, h('h2', null, t('addEndpoint')), form),
  );
  await load();
};
