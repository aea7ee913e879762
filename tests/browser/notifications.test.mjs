// Notifications (issue 16) in the web client, in Debian's chromium with two
// browser contexts: a user adds another to a room and then @-mentions them;
// the other side's bell counts each live (the `notification` frame), lists
// them with their Korean lines when opened, and opening it marks them read
// (the badge stays gone after a reload).
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, useBrowser, newPage, signUp } from './support.mjs';

useBrowser();

test('the bell counts notifications live and opening it reads them', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const roomName = `알림 방 ${suffix}`;
  const a = await newPage();
  const b = await newPage();
  await signUp(a, `ara_${suffix}`, 'Ara');
  await signUp(b, `bomi_${suffix}`, '보미');
  // Nothing yet: no badge.
  await a.locator('#bell-count').waitFor({ state: 'hidden' });

  // B makes a room with A in it: A's bell shows 1, live.
  const form = b.locator('#new-room-form');
  await form.locator('input[name=name]').fill(roomName);
  await form.locator('input[name=members]').fill(`ara_${suffix}`);
  await form.locator('button[type=submit]').click();
  await b.locator('#room-title', { hasText: roomName }).waitFor();
  await a.locator('#bell-count', { hasText: '1' }).waitFor();

  // B mentions A: 2.
  const input = b.locator('#composer-input');
  await input.focus();
  await b.keyboard.type('확인 부탁해요 @Ar');
  await b.locator('#mention-list .mention-option', { hasText: 'Ara' }).waitFor();
  await input.press('Enter');
  await input.press('Enter');
  await b.locator('#timeline .msg', { hasText: '확인 부탁해요 @Ara' }).waitFor();
  await a.locator('#bell-count', { hasText: '2' }).waitFor();

  // A opens the bell: both, newest first, in Korean; then they are read.
  await a.locator('#bell').click();
  const items = a.locator('#notif-list .notif');
  await items.nth(1).waitFor();
  assert.equal(await items.count(), 2);
  assert.equal(await items.nth(0).locator('.text').textContent(), '보미님이 회원님을 언급했어요');
  assert.equal(await items.nth(1).locator('.text').textContent(), '보미님이 회원님을 대화방에 추가했어요');
  await a.locator('#bell-count').waitFor({ state: 'hidden' });
  // Clicking one opens its room.
  await items.nth(0).click();
  await a.locator('#room-title', { hasText: roomName }).waitFor();

  // Read on the server: still no badge after a reload.
  await a.reload();
  await a.locator('#main').waitFor({ state: 'visible' });
  await a.locator('#bell').click();
  await a.locator('#notif-list .notif').nth(1).waitFor();
  assert.equal(await a.locator('#notif-list .notif.unread').count(), 0);
  await a.locator('#bell-count').waitFor({ state: 'hidden' });

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});
