// The meet-ups view in Debian's chromium (issue 17): Minji plans a meet-up
// with a friend picked from her friends, her own reminder (due at once: the
// lead time reaches back past now) shows as a notice, Jihoon sees it in his
// upcoming list, answers 참석, opens its room, and copies the calendar URL.
// Started by tests/browser.rs with the demo seeded; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoPassword, useBrowser, newPage, login } from './support.mjs';



useBrowser();


async function loggedIn(username, options) {
  const page = await newPage(options);
  await login(page, username, demoPassword);
  return page;
}

/** `YYYY-MM-DD` of `days` from now in Seoul, and its month as the grid labels it. */
function seoulDay(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Seoul', year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, label: `${Number(parts.year)}년 ${Number(parts.month)}월` };
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

test('the month grid places a meet-up on its Seoul day; the organizer edits it and its room follows, then cancels it', async () => {
  const title = `새벽 모임 ${Date.now().toString(36).slice(-5)}`;
  const renamed = `${title} (변경)`;
  // 00:30 in Seoul is still the day before in UTC: the grid must use the viewer's zone.
  const { day, label } = seoulDay(3);
  const minji = await loggedIn('minji', { timezoneId: 'Asia/Seoul' });
  const jihoon = await loggedIn('jihoon', { timezoneId: 'Asia/Seoul' });

  await minji.locator('#meetups-open').click();
  const form = minji.locator('#meetup-form');
  await form.locator('#meetup-invitees label', { hasText: '박지훈' }).locator('input').check();
  await form.locator('input[name=title]').fill(title);
  await form.locator('input[name=starts_at]').fill(`${day}T00:30`);
  await form.locator('button[type=submit]').click();
  await minji.locator('#meetup-list .meetup', { hasText: title }).waitFor();

  // The invitee has the meet-up's room open while the organizer edits it.
  await jihoon.locator('#meetups-open').click();
  await jihoon.locator('#meetup-list .meetup', { hasText: title }).locator('.room-link').click();
  await jihoon.locator('#room-title', { hasText: title }).waitFor();

  await minji.locator('#meetup-view-month').click();
  for (let i = 0; i < 2 && (await minji.locator('#meetup-month-label').textContent()) !== label; i += 1) {
    await minji.locator('#meetup-next-month').click();
  }
  await minji.locator('#meetup-month-label', { hasText: label }).waitFor();
  const chip = minji.locator(`#meetup-grid .day[data-day="${day}"] .chip`, { hasText: title });
  await chip.waitFor();
  assert.equal(await minji.locator('#meetup-grid .weekday').first().textContent(), '일');

  // The organizer's chip opens the form in edit mode.
  await chip.click();
  await minji.locator('#meetup-form-title', { hasText: '모임 수정' }).waitFor();
  assert.equal(await form.locator('input[name=title]').inputValue(), title);
  assert.equal(await form.locator('input[name=starts_at]').inputValue(), `${day}T00:30`);
  await form.locator('input[name=title]').fill(renamed);
  await form.locator('input[name=place]').fill('광화문');
  await form.locator('#meetup-submit').click();
  await minji.locator(`#meetup-grid .day[data-day="${day}"] .chip`, { hasText: renamed }).waitFor();
  await minji.locator('#meetup-form-title', { hasText: '새 모임' }).waitFor();

  // The open room's title follows the rename; the invitee's list shows the change.
  await jihoon.locator('#room-title', { hasText: renamed }).waitFor();
  await jihoon.locator('#meetups-open').click();
  const his = jihoon.locator('#meetup-list .meetup', { hasText: renamed });
  await his.locator('.place', { hasText: '광화문' }).waitFor();
  assert.equal(await his.locator('.edit-meetup').count(), 0, 'only the organizer edits');
  await his.locator('.room-link').click();
  await jihoon.locator('#room-title', { hasText: renamed }).waitFor();

  // Cancelling asks first, then marks it cancelled for everyone.
  await minji.locator('#meetup-view-list').click();
  const mine = minji.locator('#meetup-list .meetup', { hasText: renamed });
  minji.once('dialog', (d) => d.accept());
  await mine.locator('.cancel-meetup').click();
  await mine.locator('.cancelled', { hasText: '취소됨' }).waitFor();
  await jihoon.locator('#meetups-open').click();
  await jihoon.locator('#meetup-list .meetup', { hasText: renamed }).locator('.cancelled').waitFor();

  assert.deepEqual(minji.errors, []);
  assert.deepEqual(jihoon.errors, []);
  await minji.context().close();
  await jihoon.context().close();
});
