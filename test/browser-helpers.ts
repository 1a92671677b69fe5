/** Debian's chromium driven by playwright-core, for the console's browser tests. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT } from './serve-process.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the console go here. */
export const SHOTS = join(ROOT, 'test-results', 'console');
const require = createRequire(import.meta.url);

/** Whether chromium is installed; in CI its absence is an error (.ci/run installs it), elsewhere the suite is skipped and says so. */
export function haveChromium(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`CI: ${CHROMIUM} is missing (.ci/run installs Debian's chromium package)`);
  console.warn(`\n  ${suite} SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium).\n`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** A new browser context logged in to the console at `baseUrl`; no page error on the way. */
export async function logIn(browser: Browser, baseUrl: string, login: string, password: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${baseUrl}/console`);
  await page.getByLabel(/^Login/).fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  expect(errors).toEqual([]);
  return page;
}

/** axe-core's violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: number }[]> {
  // Evaluated through the DevTools protocol (not a <script> tag), so the console's CSP stays as it is.
  await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  return page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))`,
  );
}

export const serious = (vs: { impact: string }[]) => vs.filter((v) => v.impact === 'serious' || v.impact === 'critical');
