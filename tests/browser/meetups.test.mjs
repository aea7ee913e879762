// The meet-ups view in Debian's chromium (issue 17): Minji plans a meet-up
// with a friend picked from her friends, her own reminder (due at once: the
// lead time reaches back past now) shows as a notice, Jihoon sees it in his
// upcoming list, answers 참석, opens its room, and copies the calendar URL.
// Started by tests/browser.rs with the demo seeded; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, demoPassword, useBrowser, newPage } from './support.mjs';



useBrowser();


async function loggedIn(username) {
  const page = await newPage();
  await page.goto(base + '/');
  const form = page.locator('#login-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(demoPassword);
  await form.locator('button[type=submit]').click();
  await page.locator('#main').waitFor({ state: 'visible' });
  return page;
}

/** `YYYY-MM-DDTHH:MM` in local time, `days` from now (a datetime-local value). */
function localIn(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

test('plan a meet-up with a friend, get reminded, answer, open its room, copy the calendar URL', async () => {
  const title = `등산 모임 ${Date.now().toString(36).slice(-5)}`;
  const minji = await loggedIn('minji');
  const jihoon = await loggedIn('jihoon');

  await minji.locator('#meetups-open').click();
  const form = minji.locator('#meetup-form');
  await form.locator('#meetup-invitees label', { hasText: '박지훈' }).locator('input').check();
  await form.locator('input[name=title]').fill(title);
  await form.locator('input[name=starts_at]').fill(localIn(2));
  await form.locator('input[name=place]').fill('북한산');
  // Seven days ahead of a start two days away: the reminder is due now.
  await form.locator('input[name=remind]').fill('10080');
  await form.locator('button[type=submit]').click();
  const mine = minji.locator('#meetup-list .meetup', { hasText: title });
  await mine.waitFor();
  await mine.locator('.rsvp-status', { hasText: '참석' }).waitFor();
  await minji.locator('#toast', { hasText: `곧 시작해요: ${title}` }).waitFor();

  await jihoon.locator('#meetups-open').click();
  const his = jihoon.locator('#meetup-list .meetup', { hasText: title });
  await his.waitFor();
  await his.locator('.rsvp-status', { hasText: '응답 전' }).waitFor();
  await his.locator('button[data-answer=going]').click();
  await jihoon.locator('#meetup-list .meetup', { hasText: title }).locator('.rsvp-status', { hasText: '참석' }).waitFor();
  await jihoon.locator('#meetup-list .meetup', { hasText: title }).locator('.room-link').click();
  await jihoon.locator('#room-title', { hasText: title }).waitFor();

  await jihoon.locator('#meetups-open').click();
  await jihoon.locator('#calendar-url').click();
  const url = jihoon.locator('#calendar-url-text');
  await url.waitFor({ state: 'visible' });
  assert.match(await url.inputValue(), /\/v1\/me\/calendar\.ics\?token=/);

  assert.deepEqual(minji.errors, []);
  assert.deepEqual(jihoon.errors, []);
  await minji.context().close();
  await jihoon.context().close();
});
