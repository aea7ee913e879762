// Typing and presence (issue 16) in the web client, in Debian's chromium with
// two browser contexts: one finds the other with the people search and asks
// to be friends, the request shows as sent on one side and, live, as received
// on the other, which accepts it; each then sees the other online with a
// green dot and their status message in the Friends list, and
// "typing… · 입력 중…" shows in the room header while the other types. When
// one page goes away, the other's dot turns grey.
//
// Waits are Playwright's auto-waiting locators with deadlines; no fixed sleeps.

import { test } from 'node:test';
import { base, useBrowser, newPage, signUp } from './support.mjs';

useBrowser();

/** Call the API from `page` with its session; the JSON answer. */
function call(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${localStorage.getItem('cotalk.token')}`,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    [method, path, body],
  );
}

const friend = (page, name) => page.locator('#friends > .friend', { hasText: name });

test('friends see each other online, typing shows in the room header', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const a = await newPage();
  const b = await newPage();
  await signUp(a, `pres_a_${suffix}`, '민지');
  await signUp(b, `pres_b_${suffix}`, '서연');
  const me = (page) => call(page, 'GET', '/v1/me');
  const mb = await me(b);
  // A finds B and asks; B gets the request live and accepts it.
  await a.locator('#people-input').fill(`pres_b_${suffix}`);
  await a.locator('#people-results .person', { hasText: '서연' }).locator('button').click();
  await a.locator('#friends-outgoing .request', { hasText: '서연' }).waitFor();
  const asked = b.locator('#friends-incoming .request', { hasText: '민지' });
  await asked.waitFor();
  await asked.locator('button.accept').click();
  await friend(b, '민지').waitFor();
  await b.locator('#friend-requests').waitFor({ state: 'hidden' });
  await friend(a, '서연').waitFor();
  await a.locator('#friend-sent').waitFor({ state: 'hidden' });
  await call(a, 'PATCH', '/v1/me', { status_message: '점심 중' });
  const room = await call(a, 'POST', '/v1/rooms', { name: `수다 ${suffix}`, members: [mb.user_id] });

  // Reload both pages: each draws its friends list with the other online.
  await b.reload();
  await a.reload();
  await friend(b, '민지').locator('.dot.online').waitFor();
  await friend(b, '민지').locator('.status', { hasText: '점심 중' }).waitFor();
  await friend(a, '서연').locator('.dot.online').waitFor();

  // A types in the room; B, in the same room, sees it.
  for (const page of [a, b]) {
    await page.locator('#rooms .room-item', { hasText: `수다 ${suffix}` }).click();
    await page.locator('#composer').waitFor({ state: 'visible' });
  }
  await a.locator('#composer-input').pressSequentially('안녕');
  await b.locator('#typing', { hasText: '입력 중' }).waitFor();
  await b.locator('#typing', { hasText: '민지' }).waitFor();
  void room;

  // A leaves: B's dot for A goes grey.
  await a.close();
  await friend(b, '민지').locator('.dot:not(.online)').waitFor();
});
