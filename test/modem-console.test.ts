/**
 * Support sees the modem pool in the console, in a real browser (Debian's chromium), against
 * `shahn serve` driving two fake modems on real pty pairs: each SIM's state, signal, balance, last
 * answer and orders today, refreshed as the SIMs work; an unclear answer's order page shows the SIM
 * and the raw and decoded answer (Arabic, from UCS2 hex); a modem that disappears shows as gone.
 * Stores: SQLite only: the console reads the SIMs from the store's gateway_channels, which
 * test/console-api.test.ts and test/modem-gateway.test.ts exercise on both stores; a second browser
 * run would add no store path.
 * Needs: socat
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium, logIn, SHOTS } from './browser-helpers.js';
import { encodeUcs2 } from '../src/gateways/modem/ussd.js';
import { tempDir } from './helpers.js';
import { DJEZZY_RULES, fakeSim, TEST_PIN, type FakeSim } from './modem-helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';

const HAVE_CHROMIUM = haveChromium('Modem console suite');

describe.skipIf(!HAVE_CHROMIUM)('the SIMs in the support console', () => {
  let server: ServeProcess;
  let browser: Browser;
  let sims: FakeSim[] = [];
  let supportPassword: string;

  beforeAll(async () => {
    const dir = tempDir();
    // dj-1 answers in Arabic; dj-2 times out on one number and disappears on another.
    sims = [
      await fakeSim(dir, 'dj-1', { balance: 40_000, latencyMs: 100, profile: 'arabic' }),
      await fakeSim(dir, 'dj-2', { balance: 25_000, latencyMs: 100, profile: (d) => (d.msisdn === '0770000666' ? 'vanish' : d.msisdn === '0770000009' ? 'network-timeout' : 'success') }),
    ];
    const file = join(dir, 'gateways.json');
    writeFileSync(
      file,
      JSON.stringify({
        gateways: {
          pool: {
            type: 'modem',
            operators: { Djezzy: { send: '*770*{msisdn}*{amount}*{pin}#', balance: '*710#', ussdTimeoutMs: 2000, rules: DJEZZY_RULES } },
            sims: sims.map((s) => ({ name: s.name, device: s.device, operator: 'Djezzy', pinEnv: 'SIM_PIN' })),
            retryAfterMs: 600_000,
          },
          simulator: { type: 'simulator' },
        },
        routes: [
          { operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'simulator' },
          { operator: 'Djezzy', gateway: 'pool' },
          { operator: '*', gateway: 'simulator' },
        ],
      }),
    );
    server = await startServe({ SHAHN_DB: join(dir, 'shahn.db'), SHAHN_GATEWAYS: file, SIM_PIN: TEST_PIN, SHAHN_GATEWAY_TIMEOUT_MS: '20000', SHAHN_LEASE_MS: '30000' });
    supportPassword = /support login: support\s+password: (\S+)/.exec(server.stdout())?.[1] ?? '';
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    for (const s of sims) await s.close();
  });

  const send = async (MSSIDN: string, amount: number) => {
    const res = await fetch(`${server.url}/v3/mobile/send`, {
      method: 'POST',
      headers: { 'x-access-token': server.productionKey!, 'content-type': 'application/json' },
      body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount }),
    });
    return ((await res.json()) as { data: { topupId: string } }).data.topupId;
  };
  const status = async (id: string) => {
    const r = await fetch(`${server.url}/v3/mobile/check-id/${id}`, { headers: { 'x-access-token': server.productionKey! } });
    return ((await r.json()) as { data: { status: string } }).data.status;
  };

  it('each SIM with its state, signal, balance, last answer and orders today; an order page shows the SIM and its answer, raw and decoded', async () => {
    // The least recently used SIM takes the order: dj-1 (an Arabic success), then dj-2 (a network timeout).
    const fulfilled = await send('0770000001', 500);
    await expect.poll(() => status(fulfilled), { timeout: 10_000 }).toBe('FULFILLED');
    const uncertain = await send('0770000009', 300);
    await expect.poll(() => status(uncertain), { timeout: 10_000 }).toBe('UNKNOWN_ERROR');

    const page = await logIn(browser, server.url, 'support', supportPassword);
    await page.getByRole('link', { name: 'Operators' }).click();
    const row = (sim: string) => page.locator(`tr[data-sim="${sim}"]`);
    await row('dj-1').waitFor();
    expect(await page.getByRole('heading', { name: 'SIMs' }).count()).toBe(1);
    const cells = async (sim: string) => (await row(sim).locator('td').allTextContents()).map((c) => c.trim());
    const dj1 = await cells('dj-1');
    expect(dj1.slice(0, 5)).toEqual(['pool/dj-1', 'Djezzy', 'ready', '-71 dBm', expect.stringMatching(/^39,500\.00 DZD/)]);
    expect(dj1[5]).toMatch(/^تم تحويل 500 دج إلى 0770000001/);
    expect(dj1[6]).toBe('1');
    const dj2 = await cells('dj-2');
    expect(dj2.slice(2, 5)).toEqual(['ready', '-71 dBm', '25,000.00 DZD']);
    expect(dj2[5]).toBe(''); // +CUSD: 5 carries no text
    expect(dj2[6]).toBe('1');
    expect(dj2[7]).toBe('1 failed in a row');
    await page.screenshot({ path: join(SHOTS, '10-support-sims.png'), fullPage: true });

    await page.goto(`${server.url}/console#/order/${fulfilled}`);
    await page.getByRole('heading', { name: 'Gateway call' }).waitFor();
    const answer = page.locator('section.card tbody tr').first();
    const text = (await answer.locator('td').allTextContents()).map((c) => c.trim());
    expect(text[1]).toBe('FULFILLED');
    expect(text[2]).toMatch(/^تم تحويل 500 دج إلى 0770000001/);
    expect(text[3]).toBe(encodeUcs2(text[2]!));
    expect(await page.locator('section.card').textContent()).toContain('Channel: dj-1');
    await page.screenshot({ path: join(SHOTS, '11-support-order-gateway-call.png'), fullPage: true });

    // A modem unplugged mid-answer: its order uncertain, the SIM shown gone on the page as it refreshes.
    sims[0]!.modem.simState = 'BUSY'; // dj-1 (least recently used) fails its check before the dial: the order goes to dj-2
    const lost = await send('0770000666', 200);
    await expect.poll(() => status(lost), { timeout: 10_000 }).toBe('UNKNOWN_ERROR');
    await page.goto(`${server.url}/console#/operators`);
    await expect.poll(async () => (await cells('dj-2'))[2], { timeout: 10_000 }).toBe('gone');
    expect((await cells('dj-2'))[7]).toMatch(/the modem disappeared/);
    await page.screenshot({ path: join(SHOTS, '12-support-sim-gone.png'), fullPage: true });
    await page.context().close();
  }, 90_000);
});
