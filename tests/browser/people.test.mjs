// People (issue 16) in the web client, in Debian's chromium with two browser
// contexts: an owner creates a room and an invite link with a join code (its
// QR code, decoded here, holds the link), a new user opens the link's page
// (`/invite/TOKEN`), sees the preview and joins with the code; the
// owner makes them an admin (the role shows on both sides), finds a demo
// user by 초성, mutes the room (🔕 in the list) and blocks the newcomer,
// whose next message then stays out of the owner's timeline only.
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsQR from 'jsqr';
import { base, useBrowser, newPage } from './support.mjs';


useBrowser();



async function signUp(page, username, displayName, url = '/') {
  await page.goto(base + url);
  const form = page.locator('#signup-form');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=display_name]').fill(displayName);
  await form.locator('input[name=password]').fill('password-1234');
  await form.locator('button[type=submit]').click();
  await page.locator('#main').waitFor({ state: 'visible' });
}

/** What the QR code shown in `img` says (its pixels, decoded by jsQR). */
async function qrText(img) {
  await img.waitFor({ state: 'visible' });
  const { width, height, pixels } = await img.evaluate(async (el) => {
    await el.decode();
    const c = document.createElement('canvas');
    c.width = el.naturalWidth;
    c.height = el.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(el, 0, 0);
    return { width: c.width, height: c.height, pixels: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
  });
  const code = jsQR(Uint8ClampedArray.from(pixels), width, height);
  assert.ok(code, 'the image is a readable QR code');
  return code.data;
}

const roomItem = (page, name) => page.locator('#rooms .room-item', { hasText: name });
const member = (page, name) => page.locator('#members .member', { hasText: name });

test('invite link with a code, roles, 초성 search, mute and block', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const roomName = `초대 방 ${suffix}`;
  const owner = await newPage();
  const guest = await newPage();
  await signUp(owner, `owner_${suffix}`, '방장');

  // The owner creates a room and an invite link with a code.
  const form = owner.locator('#new-room-form');
  await form.locator('input[name=name]').fill(roomName);
  await form.locator('button[type=submit]').click();
  await owner.locator('#room-title', { hasText: roomName }).waitFor();
  await owner.locator('#members-toggle').click();
  await owner.locator('#invite-code').fill('2468');
  await owner.locator('#invite-create').click();
  await owner.locator('#invite-result').waitFor({ state: 'visible' });
  const link = await owner.locator('#invite-link').inputValue();
  assert.match(link, /\/invite\/[A-Za-z0-9_-]{43}$/);
  assert.equal(new URL(link).origin, new URL(base).origin);
  await owner.locator('#invite-copy').click();
  assert.equal(await qrText(owner.locator('#invite-qr')), link);

  // The guest signs up on the link's page: the join page shows the preview.
  await signUp(guest, `guest_${suffix}`, '손님', new URL(link).pathname);
  await guest.locator('#invite-join').waitFor({ state: 'visible' });
  assert.equal(await guest.locator('#invite-room').textContent(), roomName);
  assert.equal(await guest.locator('#invite-count').textContent(), '1 members');
  // A wrong code is refused; the right one joins and opens the room.
  await guest.locator('#invite-join-code').fill('1111');
  await guest.locator('#invite-join-form button').click();
  await guest.locator('#toast', { hasText: 'Wrong code' }).waitFor();
  await guest.locator('#invite-join-code').fill('2468');
  await guest.locator('#invite-join-form button').click();
  await guest.locator('#room-title', { hasText: roomName }).waitFor();
  await guest.locator('#invite-join').waitFor({ state: 'hidden' });
  assert.equal(new URL(guest.url()).pathname, '/', 'the token leaves the address');

  // The owner sees the newcomer (read again after the guest saw the join)
  // and makes them an admin.
  await owner.reload();
  await roomItem(owner, roomName).click();
  await owner.locator('#members-toggle').click();
  await member(owner, '손님').waitFor();
  await member(owner, '손님').locator('select.role-pick').selectOption('admin');
  await member(owner, '손님').locator('.role', { hasText: 'admin' }).waitFor();
  await guest.locator('#members-toggle').click();
  await member(guest, '손님').locator('.role', { hasText: 'admin' }).waitFor();

  // Finding people by initial consonants: ㄱㅁㅈ finds the demo's 김민지.
  await owner.locator('#people-input').fill('ㄱㅁㅈ');
  await owner.locator('#people-results .person', { hasText: '김민지' }).waitFor();

  // Mute: the list shows it, the button flips.
  await owner.locator('#mute-toggle', { hasText: 'Mute' }).click();
  await owner.locator('#mute-toggle', { hasText: 'Unmute' }).waitFor();
  await roomItem(owner, roomName).locator('.muted').waitFor();

  // Block the guest: their next message reaches the guest's own timeline
  // but never the owner's.
  await member(owner, '손님').locator('button.block', { hasText: 'Block' }).click();
  await member(owner, '손님').locator('button.block', { hasText: 'Unblock' }).waitFor();
  await guest.locator('#composer-input').fill('차단된 메시지');
  await guest.locator('#composer button[type=submit]').click();
  await guest.locator('#timeline .msg', { hasText: '차단된 메시지' }).waitFor();
  await owner.locator('#composer-input').fill('방장의 메시지');
  await owner.locator('#composer button[type=submit]').click();
  await owner.locator('#timeline .msg', { hasText: '방장의 메시지' }).waitFor();
  await guest.locator('#timeline .msg', { hasText: '방장의 메시지' }).waitFor();
  await owner.reload();
  await roomItem(owner, roomName).click();
  await owner.locator('#timeline .msg', { hasText: '방장의 메시지' }).waitFor();
  assert.equal(await owner.locator('#timeline .msg', { hasText: '차단된 메시지' }).count(), 0);

  assert.deepEqual(owner.errors, []);
  assert.deepEqual(guest.errors, []);
});
