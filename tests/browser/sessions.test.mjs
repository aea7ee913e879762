// Sessions in the web client (Debian's chromium via playwright-core, started
// by tests/browser.rs): an expired access token is refreshed silently, the
// settings page lists the account's sessions and logs another device out
// (whose page returns to the login form as its stream closes with 4003), a
// password change logs the other devices out, and "Log out" really ends the
// session on the server.
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, useBrowser, newPage } from './support.mjs';


useBrowser();



async function submit(page, formId, fields) {
  const form = page.locator(formId);
  for (const [name, value] of Object.entries(fields)) await form.locator(`input[name=${name}]`).fill(value);
  await form.locator('button[type=submit]').click();
}

async function login(page, username, password) {
  await page.goto(base + '/');
  await submit(page, '#login-form', { username, password });
  await page.locator('#main').waitFor({ state: 'visible' });
}

/** Whether the server still accepts `token`. */
async function accepted(page, token) {
  return page.evaluate(async (t) => (await fetch('/v1/me', { headers: { Authorization: `Bearer ${t}` } })).status, token);
}

test('silent refresh, sessions in settings, log out this device, password change, real logout', async () => {
  const username = `sess_${Date.now().toString(36).slice(-6)}`;
  const laptop = await newPage({ locale: undefined });
  await laptop.goto(base + '/');
  await submit(laptop, '#signup-form', { username, display_name: 'Session Tester', password: 'password-1' });
  await laptop.locator('#main').waitFor({ state: 'visible' });

  // An access token that no longer works: the next call refreshes silently.
  const before = await laptop.evaluate(() => localStorage.getItem('cotalk.refresh'));
  await laptop.evaluate(() => localStorage.setItem('cotalk.token', 'expired.token.value'));
  await laptop.locator('#settings-open').click();
  await laptop.locator('#sessions li', { hasText: 'this device' }).waitFor();
  assert.ok(await laptop.locator('#main').isVisible(), 'still logged in');
  assert.notEqual(await laptop.evaluate(() => localStorage.getItem('cotalk.refresh')), before, 'rotated');

  // A second device; the laptop logs it out from the session list.
  const phone = await newPage({ locale: undefined });
  await login(phone, username, 'password-1');
  await phone.locator('#conn.live').waitFor();
  await laptop.locator('#settings-close').click();
  await laptop.locator('#settings-open').click();
  const others = laptop.locator('#sessions li button', { hasText: 'Log out this device' });
  await others.first().waitFor();
  assert.equal(await laptop.locator('#sessions li').count(), 2);
  await others.first().click();
  await phone.locator('#auth').waitFor({ state: 'visible' });
  // The list is redrawn once the server has ended the session: wait for it.
  await laptop.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);
  assert.equal(await laptop.locator('#sessions li').count(), 1);

  // A password change logs the other devices out and keeps this one.
  await login(phone, username, 'password-1');
  await phone.locator('#conn.live').waitFor();
  await submit(laptop, '#password-form', { current_password: 'password-1', new_password: 'password-2' });
  await phone.locator('#auth').waitFor({ state: 'visible' });
  assert.ok(await laptop.locator('#main').isVisible());

  // Log out ends the session on the server, not only in the page.
  const token = await laptop.evaluate(() => localStorage.getItem('cotalk.token'));
  assert.equal(await accepted(laptop, token), 200);
  await laptop.locator('#logout').click();
  await laptop.locator('#auth').waitFor({ state: 'visible' });
  assert.equal(await accepted(laptop, token), 401);
  await login(laptop, username, 'password-2');

  assert.deepEqual(laptop.errors, []);
  assert.deepEqual(phone.errors, []);
});
