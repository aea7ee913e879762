// Typing and presence (issue 16): "typing…" in the room header while other
// members type, the composer telling the server at most every 3 s, and the
// friends list with a presence dot and each friend's status message, with the
// requests received (accept, decline) and sent (cancel). Both
// frames are ephemeral (no position): they only change what is shown.

import { el } from './dom.js';
import { $, api, nameOf, state, toast } from './session.js';

/** How long "typing…" stays after the last typing frame. */
const SHOWN_MS = 4000;
/** The server throttles to one frame every 3 s; the page sends no more. */
const SEND_EVERY_MS = 3000;

const typists = new Map(); // user id -> timer, in the current room
let lastSent = { room: null, at: 0 };
const dots = new Map(); // friend id -> dot element

function renderTyping() {
  const box = $('typing');
  if (typists.size === 0) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  Promise.all([...typists.keys()].map(nameOf)).then((names) => {
    if (typists.size === 0) return;
    box.textContent = `${names.join(', ')} typing… · 입력 중…`;
    box.hidden = false;
  });
}

function clearTyping() {
  for (const timer of typists.values()) clearTimeout(timer);
  typists.clear();
  renderTyping();
}

function setDot(dot, online) {
  dot.classList.toggle('online', online === true);
  dot.title = online === true ? 'online · 접속 중' : online === false ? 'offline · 오프라인' : '';
}

/** Draw the friends list (friends only, with presence when they show it). */
export async function renderFriends() {
  const list = $('friends');
  let data;
  try {
    data = await api.get('/v1/me/friends', { min: api.position });
  } catch {
    return;
  }
  renderRequests(data);
  list.replaceChildren();
  dots.clear();
  for (const f of data.friends) {
    const li = el('li', 'friend');
    li.dataset.userId = f.user_id;
    const dot = el('span', 'dot');
    if (f.presence) setDot(dot, f.presence === 'online');
    dots.set(f.user_id, dot);
    li.append(dot, el('span', 'name', f.display_name));
    if (f.status_message) li.append(el('span', 'sub status', f.status_message));
    list.append(li);
  }
}

/** A button that calls the API, then draws the lists again. */
function action(label, cls, call, done) {
  const b = el('button', cls, label);
  b.type = 'button';
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await call();
      toast(done);
    } catch (e) {
      toast(e.message);
    }
    await renderFriends();
  });
  return b;
}

/** Requests received (accept or decline) and sent (cancel). */
function renderRequests(data) {
  const person = (f) => {
    const li = el('li', 'friend request');
    li.dataset.userId = f.user_id;
    li.append(el('span', 'name', f.display_name), el('span', 'sub', `@${f.username}`));
    return li;
  };
  const incoming = data.incoming.map((f) => {
    const li = person(f);
    li.append(
      action('Accept · 수락', 'accept', () => api.post(`/v1/friends/${f.user_id}/accept`), 'Friends now'),
      action('Decline', 'ghost decline', () => api.del(`/v1/friends/${f.user_id}`), 'Request declined'),
    );
    return li;
  });
  const outgoing = data.outgoing.map((f) => {
    const li = person(f);
    li.append(action('Cancel', 'ghost cancel', () => api.del(`/v1/friends/${f.user_id}`), 'Request cancelled'));
    return li;
  });
  $('friends-incoming').replaceChildren(...incoming);
  $('friends-outgoing').replaceChildren(...outgoing);
  $('friend-requests').hidden = incoming.length === 0;
  $('friend-sent').hidden = outgoing.length === 0;
}

/** A typing or presence frame. */
export function onLiveFrame(f) {
  if (f.type === 'presence') {
    const dot = dots.get(f.user_id);
    if (dot) setDot(dot, f.online);
    else renderFriends();
    return;
  }
  if (f.type !== 'typing' || f.room_id !== state.current || f.user_id === api.userId) return;
  clearTimeout(typists.get(f.user_id));
  typists.set(
    f.user_id,
    setTimeout(() => {
      typists.delete(f.user_id);
      renderTyping();
    }, SHOWN_MS),
  );
  renderTyping();
}

/** The current room changed: forget who was typing. */
export function roomChanged() {
  clearTyping();
}

/** Tell the server the user types in the current room (throttled here too). */
function typed() {
  const room = state.current;
  if (!room) return;
  const now = Date.now();
  if (lastSent.room === room && now - lastSent.at < SEND_EVERY_MS) return;
  lastSent = { room, at: now };
  api.post(`/v1/rooms/${room}/typing`).catch(() => {});
}

export function initPresence() {
  $('composer-input').addEventListener('input', typed);
}
