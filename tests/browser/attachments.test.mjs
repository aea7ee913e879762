// Attachments in the web client (issue 15) in Debian's chromium: a file
// added by the 📎 button uploads with a progress bar, an image pasted into
// the composer and files dropped on the room upload too (one removed before
// sending), the other member sees the image's thumbnail inline and opens
// it in the viewer (Esc and a click close it), other files as a download
// link with name and size, and a refused type (an HTML page) says why in
// Korean. Started by tests/browser.rs; waits are Playwright's auto-waiting
// locators and waitForFunction with deadlines, no fixed sleeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, demoPassword, useBrowser, newPage, login, signUp } from './support.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const shots = process.env.COTALK_SCREENSHOTS || '';

useBrowser(() => {
  if (shots) mkdirSync(shots, { recursive: true });
});

const message = (page, text) => page.locator('#timeline .msg', { hasText: text });
const item = (page, name) => page.locator('#upload-tray .upload-item', { hasText: name });

/** A file the server takes for a PDF: the magic, then filler, `len` bytes. */
function pdf(len) {
  const head = Buffer.from('%PDF-1.7\n');
  const body = Buffer.alloc(len - head.length, 0x41);
  return Buffer.concat([head, body]);
}

/** Choose `file` through the 📎 button's file chooser. */
async function attachByButton(page, file) {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#attach-button').click()]);
  await chooser.setFiles(file);
}

/**
 * In the page: a `w`×`h` PNG drawn on a canvas, as a File named `name`,
 * in a DataTransfer (with `extra` bytes as a PDF beside it when given).
 * Returned as a handle for the events dispatched next.
 */
async function transfer(page, name, w, h, extra) {
  return page.evaluateHandle(
    async ({ name, w, h, extra }) => {
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = h;
      const g = canvas.getContext('2d');
      g.fillStyle = '#3b5bdb';
      g.fillRect(0, 0, w, h);
      g.fillStyle = '#ffe066';
      g.fillRect(w / 4, h / 4, w / 2, h / 2);
      const blob = await new Promise((r) => canvas.toBlob(r, 'image/png'));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], name, { type: 'image/png' }));
      if (extra) {
        const bytes = new Uint8Array(extra.size).fill(0x41);
        bytes.set(new TextEncoder().encode('%PDF-1.7\n'));
        dt.items.add(new File([bytes], extra.name, { type: 'application/pdf' }));
      }
      return dt;
    },
    { name, w, h, extra },
  );
}

test('attach by button, paste and drop; thumbnails, the viewer and a refused type', async () => {
  const suffix = Date.now().toString(36).slice(-6);
  const tester = `atester_${suffix}`;
  const roomName = `첨부 ${suffix}`;
  const minji = await newPage();
  const other = await newPage();
  await login(minji, 'minji', demoPassword);
  await signUp(other, tester, '첨부테스터', 'password-1234');

  const form = minji.locator('#new-room-form');
  await form.locator('input[name=name]').fill(roomName);
  await form.locator('input[name=members]').fill(tester);
  await form.locator('button[type=submit]').click();
  await minji.locator('#room-title', { hasText: roomName }).waitFor();
  await other.locator('#rooms .room-item', { hasText: roomName }).click();
  await other.locator('#room-title', { hasText: roomName }).waitFor();

  // The button: a 3 MB document, its bar filled when the upload is done.
  await attachByButton(minji, { name: '회의 자료.pdf', mimeType: 'application/pdf', buffer: pdf(3 * 1024 * 1024) });
  const doc = item(minji, '회의 자료.pdf');
  await doc.and(minji.locator('.done')).waitFor();
  assert.equal(await doc.locator('progress').evaluate((p) => p.value), 1);
  assert.match(await doc.textContent(), /3\.0 MB/);
  await minji.locator('#composer-input').fill('자료 올렸어요');
  await minji.locator('#composer-input').press('Enter');
  await message(minji, '자료 올렸어요').locator('.att-file', { hasText: '회의 자료.pdf' }).waitFor();
  await minji.locator('#upload-tray').waitFor({ state: 'hidden' });
  const link = message(other, '자료 올렸어요').locator('.att-file', { hasText: '회의 자료.pdf' });
  await link.waitFor();
  assert.match(await link.textContent(), /3\.0 MB/);

  // A pasted image, sent without text.
  const pasted = await transfer(minji, '붙여넣기.png', 640, 480);
  await minji.locator('#composer-input').evaluate((input, dt) => {
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, pasted);
  await item(minji, '붙여넣기.png').and(minji.locator('.done')).waitFor();
  await minji.locator('#composer-input').press('Enter');
  await minji.locator('#upload-tray').waitFor({ state: 'hidden' });

  // The other member sees its thumbnail (320 px wide) inline, fetched with the token.
  const thumb = other.locator('#timeline .msg .att-image[title="붙여넣기.png"] img');
  await other.locator('#timeline .msg .att-image[title="붙여넣기.png"] img[src^="blob:"]').waitFor();
  await other.waitForFunction((img) => img.complete && img.naturalWidth === 320, await thumb.elementHandle());
  if (shots) await other.screenshot({ path: join(shots, 'attachments.png') });

  // The viewer: the full image; Esc closes it, and so does a click.
  await thumb.click();
  const full = other.locator('#viewer img');
  await full.waitFor();
  await other.waitForFunction((img) => img.complete && img.naturalWidth === 640, await full.elementHandle());
  await other.keyboard.press('Escape');
  await other.locator('#viewer').waitFor({ state: 'detached' });
  await thumb.click();
  await other.locator('#viewer img').waitFor();
  await other.locator('#viewer').click();
  await other.locator('#viewer').waitFor({ state: 'detached' });

  // Dropped on the room: an image and a document; the document is taken
  // out again before sending.
  const dropped = await transfer(minji, '끌어놓기.png', 300, 200, { name: '빼기.pdf', size: 2048 });
  await minji.locator('#timeline').evaluate((box, dt) => {
    for (const type of ['dragenter', 'dragover']) {
      box.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, dropped);
  await minji.locator('#room.dropping').waitFor();
  await minji.locator('#timeline').evaluate((box, dt) => {
    box.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, dropped);
  assert.equal(await minji.locator('#room.dropping').count(), 0);
  await item(minji, '끌어놓기.png').and(minji.locator('.done')).waitFor();
  await item(minji, '빼기.pdf').and(minji.locator('.done')).waitFor();
  await item(minji, '빼기.pdf').locator('.upload-remove').click();
  await item(minji, '빼기.pdf').waitFor({ state: 'detached' });
  await minji.locator('#composer-input').fill('끌어다 놓았어요');
  await minji.locator('#composer-input').press('Enter');
  const droppedMsg = message(other, '끌어다 놓았어요');
  await droppedMsg.locator('.att-image[title="끌어놓기.png"] img[src^="blob:"]').waitFor();
  assert.equal(await droppedMsg.locator('.att-file').count(), 0);
  assert.equal(await droppedMsg.locator('.att-image').count(), 1);

  // A type the server refuses: said in Korean, and nothing is sent.
  await attachByButton(minji, {
    name: 'page.html',
    mimeType: 'text/html',
    buffer: Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>'),
  });
  const refused = item(minji, 'page.html');
  await refused.and(minji.locator('.failed')).waitFor();
  assert.match(await refused.locator('.upload-status').textContent(), /보낼 수 없는 파일 형식/);
  await minji.locator('#toast', { hasText: '보낼 수 없는 파일 형식' }).waitFor();
  const before = await minji.locator('#timeline .msg').count();
  await minji.locator('#composer-input').press('Enter');
  assert.equal(await minji.locator('#timeline .msg').count(), before);
  await refused.locator('.upload-remove').click();
  await minji.locator('#upload-tray').waitFor({ state: 'hidden' });

  assert.deepEqual(minji.errors, []);
  assert.deepEqual(other.errors, []);
});
