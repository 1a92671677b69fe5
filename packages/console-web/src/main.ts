/**
 * The console's entry point: the session, the login form, the page shell (header, navigation per
 * role, <main>) and the hash router.
 */
import { api, setCsrf, whenUnauthorized } from './api.js';
import { clear, field, h } from './dom.js';
import { LANGUAGES, languageCode, savedLanguage, setLanguage, t } from './i18n.js';
import { merchantKeys, merchantOrders, merchantOverview, merchantTransactions, merchantTry } from './merchant-views.js';
import { merchantWebhooks } from './webhook-views.js';
import { currentPath, type Route } from './router.js';
import { supportAudit, supportMerchants, supportOperators, supportOrder, supportOverview, supportQueue, supportSearch } from './support-views.js';
import { errorText, notice } from './ui.js';

interface Session {
  role: 'admin' | 'merchant';
  login: string;
  csrfToken: string;
}

const root = document.getElementById('app') as HTMLElement;
let session: Session | null = null;
let cleanup: (() => void) | undefined;

function routesFor(role: Session['role']): Route[] {
  if (role === 'merchant') {
    return [
      { path: 'overview', label: t('overview'), view: merchantOverview },
      { path: 'orders', label: t('orders'), view: merchantOrders },
      { path: 'transactions', label: t('transactions'), view: merchantTransactions },
      { path: 'keys', label: t('keys'), view: merchantKeys },
      { path: 'webhooks', label: t('webhooks'), view: merchantWebhooks },
      { path: 'try', label: t('tryIt'), view: merchantTry },
    ];
  }
  return [
    { path: 'queue', label: t('queue'), view: supportQueue },
    { path: 'search', label: t('search'), view: supportSearch },
    { path: 'merchants', label: t('merchants'), view: supportMerchants },
    { path: 'operators', label: t('operators'), view: supportOperators },
    { path: 'audit', label: t('audit'), view: supportAudit },
    { path: 'overview', label: t('overview'), view: supportOverview },
  ];
}

function languagePicker(): HTMLElement {
  const sel = h('select', { id: 'lang' }, LANGUAGES.map((l) => h('option', { value: l.code, lang: l.code, selected: l.code === languageCode() }, l.name)));
  sel.addEventListener('change', () => {
    setLanguage(sel.value);
    render();
  });
  return h('div', { class: 'lang' }, h('label', { for: 'lang' }, t('language')), sel);
}

function renderLogin(message?: HTMLElement): void {
  cleanup?.();
  const login = h('input', { type: 'text', name: 'login', autocomplete: 'username', required: true, maxlength: 100, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, maxlength: 200 });
  const status = h('div', { 'aria-live': 'assertive' }, message);
  const form = h('form', { class: 'card login', 'aria-labelledby': 'login-title' }, h('h1', { id: 'login-title' }, t('appName')), field(t('loginName'), login), field(t('password'), password), status, h('button', { type: 'submit', class: 'primary' }, t('login')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api<Session>('POST', '/login', { login: login.value.trim(), password: password.value })
      .then((s) => {
        session = s;
        setCsrf(s.csrfToken);
        if (!location.hash) location.hash = s.role === 'merchant' ? '#/overview' : '#/queue';
        render();
      })
      .catch((e: unknown) => {
        password.value = '';
        clear(status, notice('error', errorText(e)));
        password.focus();
      });
  });
  clear(root, h('header', { class: 'top' }, h('span', { class: 'brand' }, 'شحن shahn'), languagePicker()), h('main', { id: 'main' }, form));
  login.focus();
}

function render(): void {
  if (!session) return renderLogin();
  const s = session;
  const routes = routesFor(s.role);
  const { path, params } = currentPath();
  const route = path === 'order' && s.role === 'admin' ? { path: 'order', label: '', view: supportOrder } : routes.find((r) => r.path === path);
  if (!route) {
    location.hash = `#/${routes[0]!.path}`;
    return;
  }
  const main = h('main', { id: 'main', tabindex: '-1' });
  const logout = h('button', { type: 'button', class: 'secondary', id: 'logout' }, t('logout'));
  logout.addEventListener('click', () => {
    void api('POST', '/logout').finally(() => {
      session = null;
      location.hash = '';
      renderLogin();
    });
  });
  clear(
    root,
    h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'شحن shahn'),
      h('span', { class: 'who' }, `${s.role === 'admin' ? 'Support' : 'Merchant'}: `, h('bdi', null, s.login)),
      languagePicker(),
      logout,
    ),
    h('nav', { class: 'side', 'aria-label': 'Sections' }, h('ul', null, routes.map((r) => h('li', null, h('a', { href: `#/${r.path}`, 'aria-current': r.path === path ? 'page' : undefined }, r.label))))),
    main,
  );
  cleanup?.();
  cleanup = undefined;
  route
    .view(main, params)
    .then((c) => {
      if (c) cleanup = c;
      (main.querySelector('h1') as HTMLElement | null)?.focus();
    })
    .catch((e: unknown) => main.appendChild(notice('error', errorText(e))));
}

whenUnauthorized(() => {
  session = null;
  renderLogin(notice('info', 'Your session ended; log in again.'));
});
window.addEventListener('hashchange', render);

setLanguage(savedLanguage());
api<Session>('GET', '/session')
  .then((s) => {
    session = s;
    setCsrf(s.csrfToken);
    render();
  })
  .catch(() => renderLogin());
