export { Shahn, DEFAULT_BASE_URL, type ShahnOptions } from './client.js';
export * from './errors.js';
export * from './types.js';
export { generateRef, type WaitOptions } from './resources/mobile.js';
export type { Page, Pagination, PagePromise } from './internal/page-promise.js';
export { signWebhook, verifyWebhook, WebhookVerificationError, type WebhookEvent, type TopupWebhookEvent, type PingWebhookEvent, type WebhookEventType, type VerifyOptions } from './webhooks.js';
