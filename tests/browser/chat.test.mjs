// The web client end to end in Debian's chromium (headless, driven by
// playwright-core): two people in two browser contexts chat in Korean live,
// edit and delete, search (a particle stripped) and jump to the hit, scroll
// back through history, a kicked member's room disappears, and the operator
// page shows every projection. Started by tests/browser.rs, which serves a
// real cotalk with the demo seeded and passes its address in the environment.
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, demoPassword, useBrowser, newPage, login, signUp } from './support.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const adminToken = process.env.COTALK_ADMIN_TOKEN;
const shots = process.env.COTALK_SCREENSHOTS || '';
// Generous: a debug server and chromium share two cores with other tests.


useBrowser(() => { if (shots) mkdirSync(shots, { recursive: true }); });



async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`) });
}

const roomItem = (page, name) => page.locator('#rooms .room-item', { hasText: name });
const message = (page, text) => page.locator('#timeline .msg', { hasText: text });

async function send(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
  await message(page, text).waitFor();
  assert.equal(await input.inputValue(), '');
}

test('two people chat in Korean live, edit, delete, search, jump, kick, add, leave', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const tester = `tester_${suffix}`;
  const roomName = `회의 준비 ${suffix}`;

  const minji = await newPage();
  const other = await newPage();
  await login(minji, 'minji', demoPassword);
  await signUp(other, tester, '테스터', 'password-1234');
  assert.match(await other.locator('#me').textContent(), /테스터/);

  // The seeded rooms are there, with their last message.
  await roomItem(minji, '제품팀').waitFor();

  // Minji creates a room with the new user; it appears on their side live.
  const form = minji.locator('#new-room-form');
  await form.locator('input[name=name]').fill(roomName);
  await form.locator('input[name=members]').fill(tester);
  await form.locator('button[type=submit]').click();
  await minji.locator('#room-title', { hasText: roomName }).waitFor();
  await roomItem(other, roomName).click();
  await other.locator('#room-title', { hasText: roomName }).waitFor();

  // Enter while an input method is composing does not send.
  await minji.locator('#composer-input').fill('안녕하');
  await minji.locator('#composer-input').evaluate((node) => {
    node.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, bubbles: true, cancelable: true }));
  });
  assert.equal(await minji.locator('#composer-input').inputValue(), '안녕하');
  assert.equal(await minji.locator('#timeline .msg').count(), 0);

  // Korean both ways, seen live on the other side.
  await send(minji, '안녕하세요, 테스트 메시지입니다');
  await message(other, '안녕하세요, 테스트 메시지입니다').waitFor();
  await send(other, '네, 회의록을 공유했어요');
  await message(minji, '네, 회의록을 공유했어요').waitFor();
  await send(minji, '고마워요! 😊');
  await message(other, '고마워요! 😊').waitFor();

  // The room list shows the last message, live, on both sides.
  await roomItem(other, roomName).locator('.preview', { hasText: '고마워요' }).waitFor();
  await roomItem(minji, roomName).locator('.preview', { hasText: '고마워요' }).waitFor();

  // Edit: the other side sees the new text and the mark.
  const seq = await message(minji, '안녕하세요, 테스트 메시지입니다').getAttribute('data-seq');
  const mine = minji.locator(`#timeline .msg[data-seq="${seq}"]`);
  await mine.hover();
  await mine.locator('button.edit').click();
  const box = mine.locator('.edit-box');
  await box.fill('안녕하세요, 수정된 메시지입니다');
  await box.press('Enter');
  await message(other, '안녕하세요, 수정된 메시지입니다').locator('.edited', { hasText: 'edited' }).waitFor();
  assert.equal(await message(other, '테스트 메시지입니다').count(), 0);

  // Delete (a second click confirms): gone on the other side.
  const doomed = message(minji, '고마워요! 😊');
  await doomed.hover();
  await doomed.locator('button.delete').click();
  await doomed.locator('button.delete', { hasText: 'Delete?' }).click();
  await message(other, '고마워요! 😊').waitFor({ state: 'detached' });
  await other.locator('#timeline .msg.deleted').waitFor();

  // Search without the particle, filtered to the room, then jump to the hit.
  await minji.locator('#search-room').selectOption({ label: roomName });
  await minji.locator('#search-input').fill('회의록');
  await minji.locator('#search-input').press('Enter');
  const hit = minji.locator('#search-results .hit');
  await hit.first().waitFor();
  assert.equal(await hit.count(), 1, 'the room filter leaves one hit');
  assert.equal(await hit.locator('mark').first().textContent(), '회의록');
  await hit.first().click();
  await minji.locator('#timeline .msg.focus', { hasText: '회의록을 공유했어요' }).waitFor();

  // The same word across every room finds the seeded conversation too.
  await minji.locator('#search-room').selectOption('');
  await minji.locator('#search-input').press('Enter');
  await minji.locator('#search-results .hit', { hasText: '어제' }).waitFor();
  await shot(minji, 'search');

  // The owner removes the member: the room disappears from their list.
  await minji.locator('#members-toggle').click();
  await minji.locator('#members .member', { hasText: '테스터' }).locator('button.kick').click();
  await roomItem(other, roomName).waitFor({ state: 'detached' });
  assert.equal(await other.locator('#composer').isHidden(), true);

  // Added again, the room (with its whole history) comes back; then they leave.
  await minji.locator('#add-member-form input[name=username]').fill(tester);
  await minji.locator('#add-member-form button[type=submit]').click();
  await minji.locator('#members .member', { hasText: '테스터' }).waitFor();
  await roomItem(other, roomName).click();
  await message(other, '회의록을 공유했어요').waitFor();
  await other.locator('#leave').click();
  await roomItem(other, roomName).waitFor({ state: 'detached' });
  await minji.locator('#members .member', { hasText: '테스터' }).waitFor({ state: 'detached' });

  // Logging out returns to the sign-in forms.
  await other.locator('#logout').click();
  await other.locator('#login-form').waitFor();
  assert.equal(await other.locator('#main').isHidden(), true);

  assert.deepEqual(minji.errors, []);
  assert.deepEqual(other.errors, []);
  await minji.context().close();
  await other.context().close();
});

test('the timeline scrolls back through history, unread counts show', async () => {
  const page = await newPage();
  await login(page, 'seoyeon', demoPassword);
  // Messages posted after Seoyeon's last one are unread for her.
  const product = roomItem(page, '제품팀');
  await product.locator('.badge').waitFor();
  await roomItem(page, '점심').locator('.badge').waitFor();
  await product.click();
  await page.locator('#timeline .msg').first().waitFor();
  assert.equal(await page.locator('#timeline .msg[data-seq="1"]').count(), 0, 'first page is the newest only');
  // Scrolling up loads older pages until the first message.
  const first = page.locator('#timeline .msg[data-seq="1"]');
  for (let i = 0; i < 10 && (await first.count()) === 0; i++) {
    const shown = await page.locator('#timeline .msg').count();
    await page.locator('#timeline').evaluate((node) => {
      node.scrollTop = 0;
    });
    await page.waitForFunction((n) => document.querySelectorAll('#timeline .msg').length > n, shown);
  }
  await first.waitFor();
  // Back at the newest message the room is read: no badge once she moves on.
  await page.locator('#timeline').evaluate((node) => {
    node.scrollTop = node.scrollHeight;
  });
  await roomItem(page, '점심').click();
  await page.locator('#timeline .msg', { hasText: '김치찌개' }).waitFor();
  await product.locator('.preview', { hasText: 'Friday' }).waitFor();
  await product.locator('.badge').waitFor({ state: 'detached' });
  await shot(page, 'rooms-and-timeline');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the operator page shows every projection live', async () => {
  const page = await newPage();
  await page.goto(`${base}/ops#token=${encodeURIComponent(adminToken)}`);
  for (const name of ['relay', 'redis', 'history', 'search']) {
    await page.locator(`#rows tr[data-name="${name}"] .generation`).waitFor();
  }
  await page.locator('#rows tr[data-name="search"] .state', { hasText: 'live' }).waitFor();
  assert.notEqual((await page.locator('#head').textContent()).trim(), '–');
  // From the second poll on, the append rate is measured.
  await page.waitForFunction(() => /\d/.test(document.getElementById('rate').textContent));
  await shot(page, 'ops');
  // A wrong token is refused and asked for again.
  const wrong = await newPage();
  await wrong.goto(`${base}/ops#token=wrong`);
  await wrong.locator('#token-form').waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
  await wrong.context().close();
});
