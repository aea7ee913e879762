// Attachments (issue 15): files added to the composer by the 📎 button, by
// pasting or by dropping them on the room, each uploaded at once with a
// progress bar (XMLHttpRequest: fetch cannot report upload progress) and
// sent with the next message; in the timeline, images as their thumbnail
// (a viewer shows the whole image) and other files as a download link.
//
// Downloads need the bearer token, which <img src> and <a href> cannot
// send: the bytes are fetched and shown through object URLs. File names
// only reach the page through textContent.

import { ApiError } from './api.js';
import { el } from './dom.js';
import { $, api, toast } from './session.js';

/** What a refused upload says, by the problem's `code`. */
const REFUSED = {
  payload_too_large: '파일이 너무 커요. 25MB까지 보낼 수 있어요.',
  unsupported_media_type: '보낼 수 없는 파일 형식이에요 (HTML, SVG, 스크립트, 실행 파일 등).',
  empty_attachment: '빈 파일은 보낼 수 없어요.',
  invalid_image: '이미지를 읽을 수 없어요.',
  invalid_file_name: '파일 이름을 쓸 수 없어요.',
  room_not_found: '이 방에 파일을 올릴 수 없어요.',
};

/** A sentence for the user about a failed upload or download. */
function sorry(err) {
  if (REFUSED[err.code]) return REFUSED[err.code];
  if (err.status === 413) return REFUSED.payload_too_large;
  if (err.status === 415) return REFUSED.unsupported_media_type;
  if (err.status === 0) return '네트워크 오류로 파일을 올리지 못했어요.';
  return `파일을 올리지 못했어요: ${err.message}`;
}

/** `12 KB`, `3.4 MB`. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** One upload attempt, reporting progress (0..1) as the body goes out. */
function sendOnce(roomId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/rooms/${roomId}/attachments`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Authorization', `Bearer ${api.token}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (file.name) xhr.setRequestHeader('X-File-Name', encodeURIComponent(file.name));
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status === 201 && data) {
        api.seen(data.position);
        resolve(data);
      } else {
        reject(new ApiError(xhr.status, data && data.code, data && (data.detail || data.title)));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    xhr.send(file);
  });
}

/** Upload `file` to `roomId`; an expired token is refreshed once. */
async function upload(roomId, file, onProgress) {
  try {
    return await sendOnce(roomId, file, onProgress);
  } catch (err) {
    if (err.status === 401 && (await api.refresh())) return sendOnce(roomId, file, onProgress);
    if (err.status === 401) api.onUnauthenticated();
    throw err;
  }
}

/** The bytes of `path` (a download) as a Blob, read at the client's position. */
async function fetchBlob(path) {
  const get = () => {
    const headers = { Authorization: `Bearer ${api.token}` };
    if (api.position > 0) {
      headers['X-Min-Position'] = String(api.position);
      headers['X-Max-Wait-Ms'] = '5000';
    }
    return fetch(path, { headers });
  };
  let res = await get();
  if (res.status === 401 && (await api.refresh())) res = await get();
  if (!res.ok) throw new ApiError(res.status, '', `HTTP ${res.status}`);
  return res.blob();
}

/**
 * The files waiting in the composer of the open room: each one uploading,
 * uploaded (its stored metadata kept for the message) or refused.
 */
export class Uploads {
  /** `tray`: where the items are drawn; `roomId()`: the open room. */
  constructor(tray, roomId) {
    this.tray = tray;
    this.roomId = roomId;
    this.items = [];
  }

  /** Start uploading `files` (a FileList or an array) to the open room. */
  add(files) {
    const roomId = this.roomId();
    if (!roomId) return;
    for (const file of files) {
      const item = { file, roomId, stored: null, failed: false, node: null };
      this.items.push(item);
      this.draw(item);
      this.start(item);
    }
  }

  draw(item) {
    const node = el('div', 'upload-item uploading');
    const name = el('span', 'upload-name', item.file.name || '붙여넣은 파일');
    const size = el('span', 'upload-size', formatSize(item.file.size));
    const bar = el('progress', 'upload-progress');
    bar.max = 1;
    bar.value = 0;
    const status = el('span', 'upload-status', '올리는 중…');
    const remove = el('button', 'ghost upload-remove', '✕');
    remove.type = 'button';
    remove.title = '빼기';
    remove.addEventListener('click', () => this.remove(item));
    node.append(name, size, bar, status, remove);
    item.node = node;
    this.tray.append(node);
    this.tray.hidden = false;
  }

  async start(item) {
    const { node } = item;
    const bar = node.querySelector('progress');
    const status = node.querySelector('.upload-status');
    try {
      item.stored = await upload(item.roomId, item.file, (p) => {
        bar.value = p;
      });
      bar.value = 1;
      node.className = 'upload-item done';
      status.textContent = '완료';
    } catch (err) {
      item.failed = true;
      node.className = 'upload-item failed';
      status.textContent = sorry(err);
      if (this.items.includes(item)) toast(sorry(err));
    }
  }

  remove(item) {
    this.items = this.items.filter((i) => i !== item);
    item.node.remove();
    this.tray.hidden = this.items.length === 0;
  }

  /** Whether a file is still on its way. */
  busy() {
    return this.items.some((i) => !i.stored && !i.failed);
  }

  /** The stored files to send with the message (refused ones are left out). */
  ready() {
    return this.items.filter((i) => i.stored).map((i) => i.stored);
  }

  /** Forget every file (sent, or the room was left). */
  clear() {
    this.items = [];
    this.tray.replaceChildren();
    this.tray.hidden = true;
  }
}

/**
 * Add files to `uploads` from the 📎 `button` (through the hidden file
 * `input`), from a paste into `composer` and from a drop on `room`.
 */
export function initAttachments(uploads, { button, input, composer, room }) {
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    uploads.add([...input.files]);
    input.value = '';
  });
  composer.addEventListener('paste', (e) => {
    const files = e.clipboardData ? [...e.clipboardData.files] : [];
    if (!files.length) return;
    e.preventDefault();
    uploads.add(files);
  });
  const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0;
  room.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e) || !uploads.roomId()) return;
    e.preventDefault();
    depth++;
    room.classList.add('dropping');
  });
  room.addEventListener('dragover', (e) => {
    if (!carriesFiles(e) || !uploads.roomId()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  room.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) room.classList.remove('dropping');
  });
  room.addEventListener('drop', (e) => {
    depth = 0;
    room.classList.remove('dropping');
    if (!carriesFiles(e) || !uploads.roomId()) return;
    e.preventDefault();
    uploads.add([...e.dataTransfer.files]);
  });
}

// ---- in the timeline ----

/** Thumbnails already fetched: attachment id → object URL (bounded). */
const thumbs = new Map();
const THUMBS_KEPT = 300;

function thumbnail(id) {
  let url = thumbs.get(id);
  if (!url) {
    url = fetchBlob(`/v1/attachments/${id}?thumbnail=1`).then((b) => URL.createObjectURL(b));
    url.catch(() => thumbs.delete(id));
    thumbs.set(id, url);
    if (thumbs.size > THUMBS_KEPT) {
      const [oldest, gone] = thumbs.entries().next().value;
      thumbs.delete(oldest);
      gone.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
  }
  return url;
}

/** The longest side of an image in the timeline, in CSS pixels. */
const TILE = 240;

const isImage = (a) => a.content_type.startsWith('image/') && a.width && a.height;

/** The attachments of a message, for its row. */
export function renderAttachments(list) {
  const box = el('div', 'attachments');
  for (const a of list) box.append(isImage(a) ? imageTile(a) : fileLink(a));
  return box;
}

function imageTile(a) {
  const b = el('button', 'att-image');
  b.type = 'button';
  b.title = a.name || '이미지';
  b.dataset.attachmentId = a.attachment_id;
  const img = el('img');
  img.alt = a.name || '이미지';
  // Sized before the thumbnail arrives, so the row does not jump.
  const scale = Math.min(1, TILE / Math.max(a.width, a.height));
  img.width = Math.max(1, Math.round(a.width * scale));
  img.height = Math.max(1, Math.round(a.height * scale));
  thumbnail(a.attachment_id)
    .then((url) => {
      img.src = url;
    })
    .catch(() => {
      b.classList.add('missing');
    });
  b.append(img);
  b.addEventListener('click', () => openViewer(a));
  return b;
}

function fileLink(a) {
  const link = el('a', 'att-file');
  link.href = '#';
  link.dataset.attachmentId = a.attachment_id;
  link.append(el('span', 'att-name', `📎 ${a.name || '파일'}`), el('span', 'att-size', formatSize(a.size)));
  link.addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const url = URL.createObjectURL(await fetchBlob(`/v1/attachments/${a.attachment_id}`));
      const save = el('a');
      save.href = url;
      save.download = a.name || 'file';
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch {
      toast('파일을 받지 못했어요.');
    }
  });
  return link;
}

/** The full image over the page; Esc or a click closes it. */
async function openViewer(a) {
  closeViewer();
  const overlay = el('div', 'viewer');
  overlay.id = 'viewer';
  overlay.setAttribute('role', 'dialog');
  overlay.setAttribute('aria-label', a.name || '이미지');
  const img = el('img', 'viewer-image');
  img.alt = a.name || '이미지';
  overlay.append(img, el('div', 'viewer-caption', a.name || ''));
  overlay.addEventListener('click', closeViewer);
  document.body.append(overlay);
  document.addEventListener('keydown', onViewerKey);
  try {
    const url = URL.createObjectURL(await fetchBlob(`/v1/attachments/${a.attachment_id}`));
    if (!overlay.isConnected) {
      URL.revokeObjectURL(url);
      return;
    }
    overlay.dataset.url = url;
    img.src = url;
  } catch {
    closeViewer();
    toast('이미지를 불러오지 못했어요.');
  }
}

function onViewerKey(e) {
  if (e.key === 'Escape') closeViewer();
}

function closeViewer() {
  const overlay = $('viewer');
  document.removeEventListener('keydown', onViewerKey);
  if (!overlay) return;
  if (overlay.dataset.url) URL.revokeObjectURL(overlay.dataset.url);
  overlay.remove();
}
