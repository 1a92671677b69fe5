/** Shared pieces of the console's pages: tables, pagers, notices, confirmation dialogs. */
import { ApiError } from './api.js';
import { h, type Child } from './dom.js';
import { t } from './i18n.js';

/** A polite live region: status changes read out by screen readers. */
export function announce(text: string): void {
  const region = document.getElementById('live');
  if (region) region.textContent = text;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const details = err.details && Object.keys(err.details).length ? ` (${JSON.stringify(err.details)})` : '';
    return `${err.code}: ${err.message}${details}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export function notice(kind: 'error' | 'ok' | 'info', text: Child): HTMLElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function table(label: string, head: string[], rows: Child[][], rowAttrs?: (i: number) => Record<string, string>): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted' }, t('noResults'));
  return h(
    'div',
    // A scrollable region on narrow screens: focusable, so the keyboard can scroll it.
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label },
    h(
      'table',
      null,
      h('caption', { class: 'sr-only' }, label),
      h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows.map((r, i) => h('tr', rowAttrs?.(i) ?? null, r.map((c) => h('td', null, c))))),
    ),
  );
}

export interface Pagination {
  page: number;
  totalPages: number;
  totalResults: number;
}

export function pager(p: Pagination, go: (page: number) => void): HTMLElement {
  return h(
    'nav',
    { class: 'pager', 'aria-label': t('page') },
    h('button', { type: 'button', disabled: p.page <= 1, onclick: () => go(p.page - 1) }, t('previous')),
    h('span', null, `${t('page')} ${p.page} ${t('of')} ${Math.max(1, p.totalPages)} (${p.totalResults})`),
    h('button', { type: 'button', disabled: p.page >= p.totalPages, onclick: () => go(p.page + 1) }, t('next')),
  );
}

/**
 * A modal dialog (native <dialog>: focus is trapped, Escape cancels). `body` builds the content;
 * `onConfirm` runs on submit and may throw to keep the dialog open with the error shown.
 */
export function openDialog(title: string, body: Child, onConfirm: (form: HTMLFormElement) => Promise<void>): HTMLDialogElement {
  const error = h('div', { class: 'dialog-error' });
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: 'dialog-title' }, title),
    body,
    error,
    h('div', { class: 'buttons' }, h('button', { type: 'button', value: 'cancel', class: 'secondary', onclick: () => dialog.close() }, t('cancel')), h('button', { type: 'submit', class: 'primary' }, t('confirm'))),
  );
  const dialog = h('dialog', { 'aria-labelledby': 'dialog-title' }, form);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (submit) submit.disabled = true;
    onConfirm(form)
      .then(() => dialog.close())
      .catch((err: unknown) => {
        error.replaceChildren(notice('error', errorText(err)));
        if (submit) submit.disabled = false;
      });
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.appendChild(dialog);
  dialog.showModal();
  return dialog;
}

export function hourLabel(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function dayLabel(iso: string): string {
  const d = new Date(iso);
  return `${d.getMonth() + 1}/${d.getDate()} ${hourLabel(iso)}`;
}
