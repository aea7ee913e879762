// The messenger parts of the web client (issue 15) in Debian's chromium:
// the unread "1" beside a message counting down live when the other side
// reads it, reactions under messages seen live on both sides, the notice
// pinned at the top, "delete for me" (gone only for the hider), and @
// autocomplete of members typed through a Korean input method composition.
// Started by tests/browser.rs like chat.test.mjs; waits are Playwright's
// auto-waiting locators with deadlines, no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, demoPassword, useBrowser, newPage, login, signUp } from './support.mjs';



useBrowser();



const roomItem = (page, name) => page.locator('#rooms .room-item', { hasText: name });
const message = (page, text) => page.locator('#timeline .msg', { hasText: text });

async function send(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
  await message(page, text).waitFor();
}

test('the unread 1, reactions, the notice, delete for me and @ mentions with an IME', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const tester = `mtester_${suffix}`;
  const roomName = `메신저 ${suffix}`;
  const minji = await newPage();
  const other = await newPage();
  await login(minji, 'minji', demoPassword);
  await signUp(other, tester, '테스터', 'password-1234');

  const form = minji.locator('#new-room-form');
  await form.locator('input[name=name]').fill(roomName);
  await form.locator('input[name=members]').fill(tester);
  await form.locator('button[type=submit]').click();
  await minji.locator('#room-title', { hasText: roomName }).waitFor();

  // The other side has not opened the room: the message waits for one reader.
  await send(minji, '회의는 3시에 시작합니다');
  const posted = message(minji, '회의는 3시에 시작합니다');
  await posted.locator('.unread-by', { hasText: '1' }).waitFor();
  // They open it and read it: the "1" disappears live.
  await roomItem(other, roomName).click();
  await message(other, '회의는 3시에 시작합니다').waitFor();
  await posted.locator('.unread-by', { hasText: '1' }).waitFor({ state: 'detached' });
  assert.equal(await posted.locator('.unread-by').textContent(), '');

  // A reaction, seen live on both sides; the reactor's own is marked.
  const theirs = message(other, '회의는 3시에 시작합니다');
  await theirs.hover();
  await theirs.locator('button.quick-react', { hasText: '👍' }).click();
  await theirs.locator('.reaction.me', { hasText: '👍 1' }).waitFor();
  await posted.locator('.reaction', { hasText: '👍 1' }).waitFor();
  assert.equal(await posted.locator('.reaction.me').count(), 0);

  // Pinned as the notice: at the top of the room on both sides.
  await posted.hover();
  await posted.locator('button.pin').click();
  await other.locator('#notice', { hasText: '회의는 3시에 시작합니다' }).waitFor();
  await minji.locator('#notice', { hasText: '회의는 3시에 시작합니다' }).waitFor();

  // Delete for me: gone for the hider only.
  await send(minji, '잘못 보낸 메시지');
  const typo = message(other, '잘못 보낸 메시지');
  await typo.waitFor();
  await typo.hover();
  await typo.locator('button.hide').click();
  await typo.waitFor({ state: 'detached' });
  await message(minji, '잘못 보낸 메시지').waitFor();

  // @ autocomplete: the name typed through an IME composition.
  const input = minji.locator('#composer-input');
  await input.fill('');
  await input.focus();
  await minji.keyboard.type('확인 부탁해요 @');
  const cdp = await minji.context().newCDPSession(minji);
  await cdp.send('Input.imeSetComposition', { text: 'ㅌ', selectionStart: 1, selectionEnd: 1 });
  await cdp.send('Input.imeSetComposition', { text: '테', selectionStart: 1, selectionEnd: 1 });
  await cdp.send('Input.insertText', { text: '테' });
  const option = minji.locator('#mention-list .mention-option', { hasText: '테스터' });
  await option.waitFor();
  await input.press('Enter');
  assert.equal(await input.inputValue(), '확인 부탁해요 @테스터 ');
  await input.press('Enter');
  await message(minji, '확인 부탁해요 @테스터').waitFor();
  await other.locator('#timeline .msg.mentions-me', { hasText: '확인 부탁해요 @테스터' }).waitFor();

  assert.deepEqual(minji.errors, []);
  assert.deepEqual(other.errors, []);
});
