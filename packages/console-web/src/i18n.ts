/** The interface's words in English, French and Arabic. A missing translation falls back to English. */
const en = {
  appName: 'shahn console',
  login: 'Log in',
  logout: 'Log out',
  loginName: 'Login (merchant phone number or support name)',
  password: 'Password',
  language: 'Language',
  overview: 'Overview',
  orders: 'Orders',
  transactions: 'Transactions',
  keys: 'API keys',
  tryIt: 'Try it',
  queue: 'Uncertain orders',
  search: 'Search',
  merchants: 'Merchants',
  operators: 'Operators',
  audit: 'Audit trail',
  balance: 'Balance',
  environment: 'Environment',
  status: 'Status',
  any: 'Any',
  phone: 'Phone number (MSSIDN)',
  ref: 'Reference',
  filter: 'Filter',
  previous: 'Previous',
  next: 'Next',
  page: 'Page',
  of: 'of',
  noResults: 'Nothing to show.',
  created: 'Created',
  amount: 'Amount',
  plan: 'Plan',
  message: 'Message',
  age: 'Age',
  merchant: 'Merchant',
  actions: 'Actions',
  resolve: 'Resolve',
  resolveTitle: 'Resolve an uncertain order',
  fulfilled: 'Fulfilled (the customer received the credit)',
  refunded: 'Refunded (the customer did not receive it)',
  reason: 'Reason (what the operator or the customer confirmed)',
  confirm: 'Confirm',
  cancel: 'Cancel',
  credit: 'Credit',
  creditTitle: 'Credit a merchant',
  send: 'Send',
  type: 'Type',
  scope: 'Scope',
  enabled: 'Enabled',
  disabled: 'Disabled',
  disable: 'Disable',
  enable: 'Enable',
  rotate: 'Rotate',
  allowedIps: 'Allowed IPs (comma separated; empty = any)',
  save: 'Save',
  createKey: 'Create a key',
  newKeyShownOnce: 'Copy this key now: it is shown only once.',
  ordersOverTime: 'Orders per status over time',
  timeToFinal: 'Time to a final state (production)',
  balanceOverTime: 'Balance over time',
  up: 'Up',
  down: 'Down',
  searchHint: 'An order id, a ref or a phone number, across all merchants',
  tryHint: 'A sandbox top-up: no balance effect. Test numbers: 0600000001 (refunded), 0600000002 (offers), 0600000003 (unknown).',
  operation: 'Operation',
  note: 'Note',
  time: 'Time',
  actor: 'Actor',
  action: 'Action',
  target: 'Target',
  details: 'Details',
  loading: 'Loading…',
  welcome: 'Welcome',
  live: 'Live: refreshes every 2 s while an order is open',
  median: 'Median',
  p95: '95th percentile',
  none: 'none',
} as const;

export type Key = keyof typeof en;
type Dict = Partial<Record<Key, string>>;

const fr: Dict = {
  appName: 'console shahn',
  login: 'Se connecter',
  logout: 'Se déconnecter',
  loginName: 'Identifiant (numéro du marchand ou nom du support)',
  password: 'Mot de passe',
  language: 'Langue',
  overview: 'Aperçu',
  orders: 'Commandes',
  transactions: 'Transactions',
  keys: 'Clés API',
  tryIt: 'Essayer',
  queue: 'Commandes incertaines',
  search: 'Rechercher',
  merchants: 'Marchands',
  operators: 'Opérateurs',
  audit: "Journal d'audit",
  balance: 'Solde',
  environment: 'Environnement',
  status: 'Statut',
  any: 'Tous',
  phone: 'Numéro (MSSIDN)',
  ref: 'Référence',
  filter: 'Filtrer',
  previous: 'Précédent',
  next: 'Suivant',
  page: 'Page',
  of: 'sur',
  noResults: 'Rien à afficher.',
  created: 'Créée',
  amount: 'Montant',
  plan: 'Offre',
  message: 'Message',
  age: 'Âge',
  merchant: 'Marchand',
  actions: 'Actions',
  resolve: 'Résoudre',
  resolveTitle: 'Résoudre une commande incertaine',
  reason: 'Motif',
  confirm: 'Confirmer',
  cancel: 'Annuler',
  credit: 'Créditer',
  send: 'Envoyer',
  save: 'Enregistrer',
  rotate: 'Renouveler',
  disable: 'Désactiver',
  enable: 'Activer',
  createKey: 'Créer une clé',
  ordersOverTime: 'Commandes par statut dans le temps',
  timeToFinal: "Délai jusqu'à l'état final (production)",
  balanceOverTime: 'Solde dans le temps',
  loading: 'Chargement…',
};

const ar: Dict = {
  appName: 'لوحة شحن',
  login: 'تسجيل الدخول',
  logout: 'تسجيل الخروج',
  loginName: 'اسم الدخول (رقم التاجر أو اسم الدعم)',
  password: 'كلمة المرور',
  language: 'اللغة',
  overview: 'نظرة عامة',
  orders: 'الطلبات',
  transactions: 'المعاملات',
  keys: 'مفاتيح API',
  tryIt: 'جرّب',
  queue: 'طلبات غير مؤكدة',
  search: 'بحث',
  merchants: 'التجار',
  operators: 'المتعاملون',
  audit: 'سجل التدقيق',
  balance: 'الرصيد',
  environment: 'البيئة',
  status: 'الحالة',
  any: 'الكل',
  phone: 'رقم الهاتف',
  ref: 'المرجع',
  filter: 'تصفية',
  previous: 'السابق',
  next: 'التالي',
  page: 'صفحة',
  of: 'من',
  noResults: 'لا شيء لعرضه.',
  created: 'تاريخ الإنشاء',
  amount: 'المبلغ',
  plan: 'العرض',
  message: 'الرسالة',
  age: 'العمر',
  merchant: 'التاجر',
  actions: 'إجراءات',
  resolve: 'حسم',
  reason: 'السبب',
  confirm: 'تأكيد',
  cancel: 'إلغاء',
  credit: 'إيداع',
  send: 'إرسال',
  save: 'حفظ',
  loading: 'جارٍ التحميل…',
};

export const LANGUAGES = [
  { code: 'en', name: 'English', dir: 'ltr', dict: {} as Dict },
  { code: 'fr', name: 'Français', dir: 'ltr', dict: fr },
  { code: 'ar', name: 'العربية', dir: 'rtl', dict: ar },
] as const;

let current: (typeof LANGUAGES)[number] = LANGUAGES[0];

export function setLanguage(code: string): void {
  current = LANGUAGES.find((l) => l.code === code) ?? LANGUAGES[0];
  document.documentElement.lang = current.code;
  document.documentElement.dir = current.dir;
  try {
    localStorage.setItem('shahn.lang', current.code);
  } catch {
    /* storage may be off */
  }
}

export function savedLanguage(): string {
  try {
    return localStorage.getItem('shahn.lang') ?? 'en';
  } catch {
    return 'en';
  }
}

export function languageCode(): string {
  return current.code;
}

export function t(key: Key): string {
  return current.dict[key] ?? en[key];
}
