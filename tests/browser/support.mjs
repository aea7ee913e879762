// What every browser test file shares: one headless chromium per file
// (Debian's, driven by playwright-core; tests/browser.rs sets
// COTALK_BASE_URL) and pages in fresh browser contexts.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const base = process.env.COTALK_BASE_URL;
export const demoPassword = process.env.COTALK_DEMO_PASSWORD || 'cotalk-demo';
/** Every locator's deadline. */
export const WAIT = 30_000;

let browser;

/** Launch chromium before the file's tests (then run `setup`) and close it after them. */
export function useBrowser(setup) {
  before(async () => {
    assert.ok(base, 'COTALK_BASE_URL is not set (run through tests/browser.rs)');
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      timeout: 60_000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    if (setup) await setup();
  });
  after(async () => {
    if (browser) await browser.close();
  });
}

/**
 * A page in a fresh context (1280×800, Korean locale unless `locale` says
 * otherwise, the machine's time zone unless `timezoneId` names one),
 * collecting the page's errors in `page.errors`.
 */
export async function newPage({ locale = 'ko-KR', timezoneId } = {}) {
  const options = { viewport: { width: 1280, height: 800 }, locale };
  if (timezoneId) options.timezoneId = timezoneId;
  const context = await browser.newContext(options);
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

/** Log in through the page's login form and wait for the main view. */
export async function login(page, username, password) {
  await page.goto(base + '/');
  const form = page.locator('#login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  await form.locator('button[type=submit]').click();
  await page.locator('#main').waitFor({ state: 'visible' });
}

/** Sign up through the page's form (a default password) and wait for the main view. */
export async function signUp(page, username, displayName, password = 'password-1234') {
  await page.goto(base + '/');
  const form = page.locator('#signup-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=display_name]').fill(displayName);
  await form.locator('input[name=password]').fill(password);
  await form.locator('button[type=submit]').click();
  await page.locator('#main').waitFor({ state: 'visible' });
}
