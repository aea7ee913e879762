// Deleting the account in the web client (issue 18): the settings page
// warns, asks for the password and an explicit "I understand"; a wrong
// password changes nothing; the right one deletes the account, the page
// returns to the login form, the old token is refused and the old username
// no longer logs in.
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, useBrowser, newPage } from './support.mjs';

useBrowser();

async function fill(page, formId, fields) {
  const form = page.locator(formId);
  for (const [name, value] of Object.entries(fields)) await form.locator(`input[name=${name}]`).fill(value);
}

test('settings deletes the account after a warning and the password', async () => {
  const username = `del_${Date.now().toString(36).slice(-6)}`;
  const page = await newPage({ locale: undefined });
  await page.goto(base + '/');
  await fill(page, '#signup-form', { username, display_name: '지울 사람', password: 'password-1' });
  await page.locator('#signup-form button[type=submit]').click();
  await page.locator('#main').waitFor({ state: 'visible' });
  const token = await page.evaluate(() => localStorage.getItem('cotalk.token'));

  await page.locator('#settings-open').click();
  const warning = page.locator('#delete-account-warning');
  await warning.waitFor();
  assert.match(await warning.textContent(), /cannot be undone/);

  // The wrong password: refused, still logged in.
  await fill(page, '#delete-account-form', { password: 'wrong-password' });
  await page.locator('#delete-account-form input[name=understood]').check();
  await page.locator('#delete-account-form button[type=submit]').click();
  await page.locator('#toast', { hasText: 'The password is wrong' }).waitFor();
  assert.ok(await page.locator('#main').isVisible());

  await fill(page, '#delete-account-form', { password: 'password-1' });
  await page.locator('#delete-account-form input[name=understood]').check();
  await page.locator('#delete-account-form button[type=submit]').click();
  await page.locator('#auth').waitFor({ state: 'visible' });
  const status = await page.evaluate(
    async (t) => (await fetch('/v1/me', { headers: { Authorization: `Bearer ${t}` } })).status,
    token,
  );
  assert.equal(status, 401);
  const login = await page.evaluate(
    async (u) =>
      (await fetch('/v1/sessions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: u, password: 'password-1' }),
      })).status,
    username,
  );
  assert.equal(login, 401);
});
