/**
 * The merchant's webhooks page in a real browser (Debian's chromium), against `shahn serve` delivering
 * to real HTTP receivers on loopback: an endpoint added (its secret shown once), a test event whose
 * first attempt fails and whose retry succeeds, the deliveries with each attempt's status and answer
 * and the body sent, a replay of a window (same event ids), an endpoint disabled by a 410 shown with
 * a notice and enabled again, deletion through a dialog, the page in Arabic, and axe.
 * Stores: SQLite only: the page drives the console's webhook routes, which test/console-api.test.ts
 * runs on both stores, over the same domain and store code that test/webhooks.test.ts runs on both.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { axeViolations, haveChromium, launchChromium, logIn, serious, SHOTS } from './browser-helpers.js';
import { QUICK_SANDBOX, tempDir } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

const HAVE_CHROMIUM = haveChromium('Webhooks console suite');

interface Got {
  id: string;
  type: string;
}

/** A receiver on loopback: `status(n)` answers the n-th request (1-based) with that status and `body(n)`. */
async function receiver(status: (n: number) => number, body: (n: number) => string) {
  const got: Got[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      got.push({ id: String(req.headers['webhook-id']), type: (JSON.parse(raw) as { type: string }).type });
      const n = got.length;
      res.writeHead(status(n), { 'content-type': 'text/plain' }).end(body(n));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.skipIf(!HAVE_CHROMIUM)("the merchant's webhooks page", () => {
  let server: ServeProcess;
  let browser: Browser;
  let merchantPassword: string;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const dir = tempDir();
    server = await startServe({ SHAHN_DB: join(dir, 'shahn.db'), SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true', ...QUICK_SANDBOX });
    merchantPassword = /merchant login: \S+\s+password: (\S+)/.exec(server.stdout())?.[1] ?? '';
    expect(merchantPassword, server.stdout()).toMatch(/^\S{16}$/);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    for (const c of closers) await c();
  });

  it('endpoints, deliveries with their attempts and answers, replay, a disabled endpoint enabled again, deletion; in Arabic too', async () => {
    // The shop's endpoint is not ready at first: its first answer is a 500, then it takes everything.
    const shop = await receiver((n) => (n === 1 ? 500 : 200), (n) => (n === 1 ? 'not ready yet' : `thanks ${n}`));
    const gone = await receiver(() => 410, () => 'this endpoint is gone');
    closers.push(shop.close, gone.close);
    const login = /merchant login: (\S+)/.exec(server.stdout())![1]!;
    const page = await logIn(browser, server.url, login, merchantPassword);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    // The list arrives after the page's heading: it is fetched once the page shows.
    await expect.poll(() => page.locator('#wh-endpoints').textContent()).toContain('Nothing to show.');

    // A sandbox endpoint: the sandbox's test numbers give events at once.
    await page.getByLabel('Environment').selectOption('SANDBOX');
    await page.getByLabel('URL').fill(shop.url);
    await page.getByLabel('Description').fill('the shop');
    await page.getByRole('button', { name: 'Add an endpoint' }).click();
    const secret = await page.locator('#wh-secret').textContent();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    const row = page.locator('tr[data-endpoint-id]');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    const cells = (await row.first().locator('td').allTextContents()).map((c) => c.trim());
    expect(cells.slice(0, 3)).toEqual([`${shop.url}the shop`, 'every event', 'Enabled']);
    // The production list is another list.
    await page.getByLabel('Environment').selectOption('PRODUCTION');
    await expect.poll(() => page.locator('#wh-endpoints').textContent()).toContain('Nothing to show.');
    await page.getByLabel('Environment').selectOption('SANDBOX');
    await row.first().waitFor();

    // A test event: refused with a 500 once, delivered on the retry 5 s later; the same event id both times.
    await row.first().getByRole('button', { name: 'Send a test event' }).click();
    await expect.poll(() => page.locator('#wh-notice').textContent()).toMatch(/Test event queued: evt_[0-9a-f]{24}/);
    await expect.poll(() => shop.got.length, { timeout: 15_000 }).toBe(2);
    expect(shop.got.map((g) => g.type)).toEqual(['ping', 'ping']);
    expect(shop.got[1]!.id).toBe(shop.got[0]!.id);
    await row.first().getByRole('button', { name: 'Deliveries' }).click();
    const delivery = page.locator('tr[data-delivery-id]');
    await expect.poll(async () => (await delivery.first().locator('td').allTextContents()).map((c) => c.trim()).slice(1, 5)).toEqual(['ping', expect.any(String), '2', '200']);
    expect(await delivery.first().locator('td').nth(0).textContent()).toBe(shop.got[0]!.id);
    expect(await delivery.first().locator('td').nth(5).textContent()).toMatch(/^delivered /);
    await delivery.first().getByRole('button', { name: 'Attempts' }).click();
    const attempt = page.locator('#wh-attempts tbody tr');
    await attempt.first().waitFor();
    const attempts = await attempt.evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
    expect(attempts.map((a) => [a[0], a[3], a[4]])).toEqual([['1', '500', 'not ready yet'], ['2', '200', 'thanks 2']]);
    expect(attempts[0]![5]).toMatch(/HTTP 500/);
    expect(attempts[1]![2]).toMatch(/^\d+ ms$/);
    expect(JSON.parse((await page.locator('#wh-body').textContent()) ?? '')).toMatchObject({ type: 'ping', data: { message: expect.any(String) } });
    await page.screenshot({ path: join(SHOTS, '20-merchant-webhook-attempts.png'), fullPage: true });
    expect(serious(await axeViolations(page))).toEqual([]);

    // A sandbox order to a test number: its events arrive; a replay of the window sends them again, same ids.
    const sent = await fetch(`${server.url}/v3/mobile/send`, {
      method: 'POST',
      headers: { 'x-access-token': server.sandboxKey!, 'content-type': 'application/json' },
      body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 100 }),
    });
    expect(sent.status).toBe(200);
    await expect.poll(() => shop.got.map((g) => g.type), { timeout: 10_000 }).toEqual(['ping', 'ping', 'topup.handling', 'topup.refunded']);
    const orderEvents = shop.got.slice(2).map((g) => g.id);
    const local = (ms: number) => {
      const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
      return d.toISOString().slice(0, 19);
    };
    await page.getByLabel('From', { exact: true }).fill(local(Date.now() - 3_600_000));
    await page.getByLabel('To', { exact: true }).fill(local(Date.now() + 3_600_000));
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await expect.poll(() => page.locator('#wh-notice').textContent()).toBe('Events queued again: 2');
    await expect.poll(() => shop.got.length, { timeout: 10_000 }).toBe(6);
    expect(shop.got.slice(4).map((g) => g.id).sort()).toEqual([...orderEvents].sort());

    // An endpoint that answers 410 is disabled; the page says so, and the merchant enables it again.
    await page.getByLabel('URL').fill(gone.url);
    await page.getByLabel('topup.fulfilled').check();
    await page.getByRole('button', { name: 'Add an endpoint' }).click();
    await expect.poll(() => row.count()).toBe(2);
    const goneRow = page.locator('tr[data-endpoint-id]', { hasText: gone.url });
    expect((await goneRow.locator('td').nth(1).textContent())?.trim()).toBe('topup.fulfilled');
    await goneRow.getByRole('button', { name: 'Send a test event' }).click();
    await expect.poll(() => gone.got.length, { timeout: 10_000 }).toBe(1);
    await expect
      .poll(async () => {
        await page.getByLabel('Environment').selectOption('PRODUCTION');
        await page.getByLabel('Environment').selectOption('SANDBOX');
        await row.first().waitFor();
        return page.locator('#wh-endpoints p.notice.error').textContent();
      }, { timeout: 10_000 })
      .toContain(`Endpoint disabled: ${gone.url}: the endpoint answered 410 Gone.`);
    await page.screenshot({ path: join(SHOTS, '21-merchant-webhook-disabled.png'), fullPage: true });
    await goneRow.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => page.locator('#wh-notice').textContent()).toBe('Endpoint enabled again.');
    await expect.poll(() => page.locator('#wh-endpoints p.notice.error').count()).toBe(0); // the list reloads after the notice

    // Deleted through a confirmation dialog.
    await goneRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.count()).toBe(1);

    // The page in Arabic, right to left.
    await page.getByLabel('Language').selectOption('ar');
    await expect.poll(() => page.evaluate('document.documentElement.dir')).toBe('rtl');
    await page.getByRole('heading', { name: 'الإشعارات (Webhooks)', level: 1 }).waitFor();
    await expect.poll(() => page.getByRole('button', { name: 'إضافة نقطة استقبال' }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, '22-merchant-webhooks-ar.png'), fullPage: true });
    expect(serious(await axeViolations(page))).toEqual([]);
    await page.getByLabel('اللغة').selectOption('en');
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);
});
