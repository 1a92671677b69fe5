/**
 * The console in a real browser: Debian's chromium driven by playwright-core, against `shahn serve`
 * (the built CLI, a child process on a fresh SQLite store, demo logins as a newcomer gets them).
 * A merchant sends a sandbox top-up and watches it reach FULFILLED; support resolves an UNKNOWN_ERROR
 * order and the merchant's balance and transactions change; support credits a merchant; keyboard use,
 * right-to-left Arabic and an automated accessibility check (axe-core). Screenshots go to
 * test-results/console/.
 * Stores: SQLite only: the browser drives the console API, whose every route test/console-api.test.ts
 * runs on both stores; a second browser run adds no store path and doubles the slowest file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { axeViolations, haveChromium, launchChromium, logIn as logInAt, serious, SHOTS } from './browser-helpers.js';
import { tempDir } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

const HAVE_CHROMIUM = haveChromium('Browser suite');
const UNKNOWN_NUMBER = '0778000003';

describe.skipIf(!HAVE_CHROMIUM)('the console in headless chromium', () => {
  let server: ServeProcess;
  let browser: Browser;
  let merchantPassword: string;
  let supportPassword: string;

  beforeAll(async () => {
    const dir = tempDir();
    const simulator = join(dir, 'simulator.json');
    // Quick operators; one number always answers garbled (→ UNKNOWN_ERROR).
    writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 100, max: 300 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } }, numbers: { [UNKNOWN_NUMBER]: 'garbled' } }));
    server = await startServe({ SHAHN_DB: join(dir, 'shahn.db'), SHAHN_SIMULATOR_CONFIG: simulator });
    merchantPassword = /merchant login: \S+\s+password: (\S+)/.exec(server.stdout())?.[1] ?? '';
    supportPassword = /support login: support\s+password: (\S+)/.exec(server.stdout())?.[1] ?? '';
    expect(merchantPassword, server.stdout()).toMatch(/^\S{16}$/);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const logIn = (login: string, password: string): Promise<Page> => logInAt(browser, server.url, login, password);

  /** A PREPAID_DJEZZY top-up through the v3 API, as a merchant's backend sends it; returns its id. */
  async function apiSend(key: string, body: { MSSIDN: string; amount: number; ref?: string }): Promise<string> {
    const res = await fetch(`${server.url}/v3/mobile/send`, {
      method: 'POST',
      headers: { 'x-access-token': key, 'content-type': 'application/json' },
      body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', ...body }),
    });
    return ((await res.json()) as { data: { topupId: string } }).data.topupId;
  }


  it('login with the keyboard alone; a wrong password is announced; the login page passes axe', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/console`);
    await page.getByLabel(/^Login/).waitFor();
    expect(serious(await axeViolations(page))).toEqual([]);
    // Focus starts in the login field; Tab to the password; Enter submits.
    await page.keyboard.type('+213555000000');
    await page.keyboard.press('Tab');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('CONSOLE_UNAUTHORIZED');
    await page.screenshot({ path: join(SHOTS, '01-login-error.png') });
    await page.getByLabel('Password').focus();
    await page.keyboard.type(merchantPassword);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Log out' }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'shahn_console');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/console' });
    await page.context().close();
  }, 60_000);

  it('a merchant sends a sandbox top-up from "Try it" and moves it PENDING → HANDLING → UNKNOWN_ERROR → FULFILLED with the sandbox clock; the orders page updates live', async () => {
    // An order sent through the API, watched on the orders page without reloading it. The page is open
    // before the order is sent: a sandbox order is PENDING for its first 5 s only, and logging in takes
    // a while on a loaded machine.
    const list = await logIn('+213555000000', merchantPassword);
    await list.getByRole('link', { name: 'Orders' }).click();
    await list.getByLabel('Environment').selectOption('SANDBOX');
    await list.getByRole('button', { name: 'Filter' }).click();
    const apiId = await apiSend(server.sandboxKey!, { MSSIDN: '0600000002', amount: 300 });
    await list.getByRole('button', { name: 'Filter' }).click();
    const apiRow = list.locator(`tr[data-id="${apiId}"]`);
    await expect.poll(() => apiRow.getAttribute('data-status')).toBe('PENDING');

    const page = await logIn('+213555000000', merchantPassword);
    await page.getByRole('link', { name: 'Try it' }).click();
    await page.getByLabel('Plan').selectOption('PREPAID_DJEZZY');
    // 0600000004 through its whole timeline with the sandbox clock's buttons alone.
    await page.getByLabel(/^Phone number/).fill('0600000004');
    await page.getByLabel(/^Amount/).fill('500');
    await expect.poll(() => page.locator('#try-clock').textContent()).toContain('on real time');
    await page.getByRole('button', { name: 'Send' }).click();
    const status = page.locator('#try-status');
    await expect.poll(() => status.textContent(), { timeout: 5_000 }).toBe('PENDING');
    await page.screenshot({ path: join(SHOTS, '02-try-pending.png') });
    await page.getByRole('button', { name: 'Advance 5 s' }).click();
    await expect.poll(() => status.textContent()).toBe('HANDLING');
    await page.getByRole('button', { name: 'Advance 15 s' }).click();
    await expect.poll(() => status.textContent()).toBe('UNKNOWN_ERROR');
    await page.getByRole('button', { name: 'Advance 1 h' }).click();
    await expect.poll(() => status.textContent()).toBe('FULFILLED');
    await expect.poll(() => page.locator('#try-clock').textContent()).toContain('Ahead of real time by 1 h 20 s');
    await page.screenshot({ path: join(SHOTS, '03-try-fulfilled.png') });
    expect(serious(await axeViolations(page)), 'try it with its clock').toEqual([]);

    // The order is in the sandbox list; the balance did not move.
    await page.getByRole('link', { name: 'Orders' }).click();
    await page.getByLabel('Environment').selectOption('SANDBOX');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('tr[data-status="FULFILLED"]').count()).toBe(1);
    expect(serious(await axeViolations(page))).toEqual([]);
    await page.getByRole('link', { name: 'Transactions' }).click();
    await expect.poll(() => page.locator('#tx-balance').textContent()).toBe('10,000.00 DZD');

    // The list refreshed itself: REFUNDED with the Arabic message and the suggested FACTURE offer.
    await expect.poll(() => apiRow.getAttribute('data-status'), { timeout: 10_000 }).toBe('REFUNDED');
    expect(await apiRow.locator('bdi.ar').textContent()).toBe('هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية');
    expect(await apiRow.locator('.offers').textContent()).toContain('FACTURE_DJEZZY');
    await list.screenshot({ path: join(SHOTS, '10-orders-live.png') });

    // Keys: create a production READ-ONLY key (shown once), then disable it.
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Type', { exact: true }).selectOption('PRODUCTION');
    await page.getByLabel('Scope').selectOption('READ-ONLY');
    await page.getByRole('button', { name: 'Create a key' }).click();
    const secret = await page.locator('#new-key').textContent();
    expect(secret).toMatch(/^[0-9a-f-]{36}$/);
    const balance = await fetch(`${server.url}/v3/account/balance`, { headers: { 'x-access-token': secret! } });
    expect(balance.status).toBe(200);
    const send = await fetch(`${server.url}/v3/mobile/send`, { method: 'POST', headers: { 'x-access-token': secret!, 'content-type': 'application/json' }, body: '{}' });
    expect(((await send.json()) as { error: { code: string } }).error.code).toBe('READ_ONLY_KEY');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(3);
    await page.locator('tbody tr').last().getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => page.locator('tbody tr').last().textContent()).toContain('Disabled');
    await page.screenshot({ path: join(SHOTS, '11-keys.png') });
    expect(serious(await axeViolations(page)), 'keys page').toEqual([]);
    await page.getByRole('link', { name: 'Overview' }).click();
    await expect.poll(() => page.locator('svg.chart').count()).toBe(3);
    expect(serious(await axeViolations(page)), 'merchant overview').toEqual([]);
    // The sandbox clock back to real time, from "Try it".
    await page.getByRole('link', { name: 'Try it' }).click();
    await page.getByRole('button', { name: 'Back to real time' }).click();
    await expect.poll(() => page.locator('#try-clock').textContent()).toContain('on real time');
    expect((await (await fetch(`${server.url}/v3/sandbox/clock`, { headers: { 'x-access-token': server.sandboxKey! } })).json()) as unknown).toMatchObject({ data: { offsetSeconds: 0 } });
    await list.context().close();
    await page.context().close();
  }, 60_000);

  it('support resolves an UNKNOWN_ERROR order; the merchant sees the refund; support credits the merchant', async () => {
    // A production order through the API that the operator answers with garbage: UNKNOWN_ERROR.
    const id = await apiSend(server.productionKey!, { MSSIDN: UNKNOWN_NUMBER, amount: 1000, ref: 'shop-order-7' });
    await expect
      .poll(async () => {
        const r = await fetch(`${server.url}/v3/mobile/check-id/${id}`, { headers: { 'x-access-token': server.productionKey! } });
        return ((await r.json()) as { data: { status: string } }).data.status;
      }, { timeout: 15_000 })
      .toBe('UNKNOWN_ERROR');

    const merchant = await logIn('+213555000000', merchantPassword);
    await merchant.getByRole('link', { name: 'Transactions' }).click();
    const charged = 10_000 - 1000 * 0.9925;
    await expect.poll(() => merchant.locator('#tx-balance').textContent()).toBe(`${charged.toLocaleString('en-US', { minimumFractionDigits: 2 })} DZD`);

    const support = await logIn('support', supportPassword);
    await expect.poll(() => support.locator(`tr[data-id="${id}"]`).count()).toBe(1);
    const row = support.locator(`tr[data-id="${id}"]`);
    // The operator's Arabic notice, shown right to left.
    const notice = row.locator('bdi.ar');
    expect(await notice.getAttribute('dir')).toBe('rtl');
    // (The test runs without the DOM lib: the browser's getComputedStyle reached through globalThis.)
    const direction = await notice.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { direction: string } }).getComputedStyle(el).direction);
    expect(direction).toBe('rtl');
    expect(await notice.textContent()).toMatch(/[\u0600-\u06FF]/);
    expect(serious(await axeViolations(support))).toEqual([]);
    await support.screenshot({ path: join(SHOTS, '04-support-queue.png') });

    await row.getByRole('button', { name: 'Resolve' }).click();
    const dialog = support.getByRole('dialog');
    await dialog.getByLabel(/^Refunded/).check();
    await dialog.getByLabel(/^Reason/).fill('Djezzy confirmed the top-up failed');
    await support.screenshot({ path: join(SHOTS, '05-support-resolve-dialog.png') });
    expect(serious(await axeViolations(support)), 'resolve dialog').toEqual([]);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => support.locator(`tr[data-id="${id}"]`).count()).toBe(0);

    // The merchant's page shows the refund: balance back, a REFUND-FLEXY line.
    await merchant.reload();
    await merchant.getByRole('button', { name: 'Log out' }).waitFor();
    await expect.poll(() => merchant.locator('#tx-balance').textContent()).toBe('10,000.00 DZD');
    expect(await merchant.locator('tr[data-type="REFUND-FLEXY"]').count()).toBe(1);
    await merchant.screenshot({ path: join(SHOTS, '06-merchant-refunded.png') });

    // The audit trail records who and why.
    await support.getByRole('link', { name: 'Audit trail' }).click();
    await expect.poll(() => support.locator('tbody').first().textContent()).toContain('Djezzy confirmed the top-up failed');

    // Credit the merchant from the merchants page.
    await support.getByRole('link', { name: 'Merchants' }).click();
    const mrow = support.locator('tr[data-merchant="+213555000000"]');
    await mrow.getByRole('button', { name: 'Credit' }).click();
    await support.getByRole('dialog').getByLabel(/^Amount/).fill('250');
    await support.getByRole('dialog').getByLabel(/^Reason/).fill('cash deposit at the agency');
    await support.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => mrow.locator('.balance').textContent()).toBe('10,250.00 DZD');
    await support.screenshot({ path: join(SHOTS, '07-support-credited.png') });
    expect(serious(await axeViolations(support)), 'merchants page').toEqual([]);
    await support.getByRole('link', { name: 'Operators' }).click();
    await support.getByRole('heading', { name: 'Operators' }).waitFor();
    await expect.poll(() => support.locator('tbody tr').count()).toBe(4);
    expect(serious(await axeViolations(support)), 'operators page').toEqual([]);
    await merchant.reload();
    await expect.poll(() => merchant.locator('#tx-balance').textContent()).toBe('10,250.00 DZD');
    expect(await merchant.locator('tr[data-type="DEPOSIT"]').count()).toBe(2);

    // Charts render (SVG with a text description).
    await support.getByRole('link', { name: 'Overview' }).click();
    await expect.poll(() => support.locator('svg.chart').count()).toBe(2);
    expect(await support.locator('svg.chart').first().getAttribute('aria-label')).toMatch(/\d+ orders/);
    expect(serious(await axeViolations(support)), 'overview').toEqual([]);
    await support.screenshot({ path: join(SHOTS, '08-support-overview.png'), fullPage: true });

    // The customer still wants the top-up: re-send the refunded order as a new, linked one.
    await support.goto(`${server.url}/console#/order/${id}`);
    await support.getByRole('button', { name: 'Re-send' }).click();
    await support.getByRole('dialog').getByLabel(/^Reason/).fill('customer asked again by phone');
    await support.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => support.evaluate('location.hash')).not.toBe(`#/order/${id}`);
    const newId = String(await support.evaluate('location.hash')).replace('#/order/', '');
    await expect.poll(() => support.locator('dl.facts').textContent()).toContain(`follow_orderid${id}`);
    await merchant.reload();
    await expect.poll(() => merchant.locator('#tx-balance').textContent()).toBe(`${(10_250 - 992.5).toLocaleString('en-US', { minimumFractionDigits: 2 })} DZD`);
    expect(await merchant.locator('tbody').first().textContent()).toContain(newId);

    await merchant.context().close();
    await support.context().close();
  }, 90_000);

  it('switches the interface to Arabic, right to left', async () => {
    const page = await logIn('+213555000000', merchantPassword);
    await page.getByLabel('Language').selectOption('ar');
    await expect.poll(() => page.evaluate('document.documentElement.dir')).toBe('rtl');
    expect(await page.evaluate('document.documentElement.lang')).toBe('ar');
    await expect.poll(() => page.getByRole('link', { name: 'الطلبات' }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, '09-arabic.png') });
    expect(serious(await axeViolations(page)), 'arabic').toEqual([]);
    await page.getByLabel('اللغة').selectOption('en');
    await page.context().close();
  }, 30_000);
});
