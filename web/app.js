// The cotalk web client: sign-up and login, the room list (unread counts and
// last message, live), a room's timeline, members, and search. State lives
// in the server; this page re-reads what a live frame says has changed,
// asking for at least that frame's position (X-Min-Position).

import { Stream } from './api.js';
import { Uploads, initAttachments } from './attachments.js';
import { el, formatTime, onEnter } from './dom.js';
import { initMeetups } from './meetups.js';
import { initNotifications } from './notifications.js';
import { renderMembers } from './members.js';
import { initPeople, showInvite, showMute } from './people.js';
import { initPresence, onLiveFrame, renderFriends, roomChanged } from './presence.js';
import { Mentions, loadNotice, showNotice } from './messenger.js';
import { initSearch } from './search.js';
import { initSettings } from './settings.js';
import { $, api, keepFresh, nameOf, state, stopRefreshing, titleOf, toast, users } from './session.js';
import { Timeline } from './timeline.js';

let stream = null;
let roomsTimer = null;
let roomsWanted = 0;

// ---- session ----

function showAuth() {
  $('main').hidden = true;
  $('auth').hidden = false;
}

async function enter() {
  try {
    state.me = await api.get('/v1/me');
  } catch {
    api.clearSession();
    showAuth();
    return;
  }
  users.set(state.me.user_id, Promise.resolve(state.me.display_name));
  $('me').textContent = `${state.me.display_name} (@${state.me.username})`;
  $('auth').hidden = true;
  $('main').hidden = false;
  await loadRooms();
  renderFriends();
  stream = new Stream(api, onFrame, (s) => {
    $('conn').className = `conn ${s}`;
    $('conn').title =
      s === 'live' ? 'live' : s === 'refused' ? 'too many open tabs: live updates paused' : 'reconnecting…';
    if (s === 'live') {
      scheduleRooms(api.position);
      notifications.load(api.position);
    }
  });
  stream.start(api.position);
  if (await showInvite()) return;
  const hash = new URLSearchParams(location.hash.slice(1));
  const want = hash.get('room');
  if (want && state.rooms.some((r) => r.room_id === want)) openRoom(want, Number(hash.get('seq')) || 0);
}

/** Log out: end the session on the server (its token stops working on
 * every node), then forget it here. `ended`: the server already ended it. */
async function logout(ended) {
  if (stream) stream.stop();
  stream = null;
  stopRefreshing();
  if (ended !== true && api.token) await api.del('/v1/sessions/current').catch(() => {});
  api.clearSession();
  closeRoom();
  state.rooms = [];
  state.details.clear();
  state.read.clear();
  $('rooms').replaceChildren();
  $('search-panel').hidden = true;
  $('settings-panel').hidden = true;
  $('search-results').replaceChildren();
  $('search-input').value = '';
  notifications.reset();
  showAuth();
}

api.onUnauthenticated = () => {
  if (api.token) {
    logout(true);
    toast('Your session ended; please log in again');
  }
};

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const s = await api.post('/v1/sessions', { username: f.get('username').trim(), password: f.get('password') });
    api.saveSession(s);
    keepFresh();
    e.target.reset();
    await enter();
  } catch (err) {
    toast(err.code === 'invalid_credentials' ? 'Wrong username or password' : err.message);
  }
});

$('signup-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const username = f.get('username').trim();
  try {
    await api.post('/v1/users', {
      username,
      display_name: f.get('display_name').trim(),
      password: f.get('password'),
    });
    const s = await api.post('/v1/sessions', { username, password: f.get('password') });
    api.saveSession(s);
    keepFresh();
    e.target.reset();
    await enter();
  } catch (err) {
    toast(err.message);
  }
});

$('logout').addEventListener('click', () => logout());

// ---- rooms ----

/** Re-read the room list once at least `position` is applied (debounced). */
function scheduleRooms(position) {
  roomsWanted = Math.max(roomsWanted, position || 0);
  clearTimeout(roomsTimer);
  roomsTimer = setTimeout(() => loadRooms(roomsWanted), 120);
}

async function loadRooms(min) {
  let data;
  try {
    data = await api.get('/v1/me/rooms?limit=200', { min: min || undefined });
  } catch (e) {
    toast(e.message);
    return;
  }
  state.rooms = data.rooms;
  renderRooms();
}

function renderRooms() {
  const list = $('rooms');
  const items = state.rooms.map((r) => {
    const li = el('li', r.room_id === state.current ? 'room-item active' : 'room-item');
    li.dataset.roomId = r.room_id;
    li.tabIndex = 0;
    const top = el('div', 'line');
    const name = el('span', 'name', r.name);
    titleOf(r).then((t) => {
      name.textContent = t;
    });
    top.append(name, el('span', 'when', formatTime(r.last_activity_at)));
    const bottom = el('div', 'line');
    const preview = r.last_message ? r.last_message.body_preview : r.direct ? 'Direct chat' : `${r.member_count} members`;
    bottom.append(el('span', 'preview', preview));
    if (r.muted) bottom.append(el('span', 'muted', '🔕'));
    if (r.unread_count > 0 && r.room_id !== state.current) {
      bottom.append(el('span', 'badge', String(r.unread_count)));
    }
    li.append(top, bottom);
    li.addEventListener('click', () => openRoom(r.room_id));
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') openRoom(r.room_id);
    });
    return li;
  });
  list.replaceChildren(...items);
  if (!items.length) list.append(el('li', 'empty', 'No rooms yet: create one above.'));
  // The search filter offers the same rooms.
  const select = $('search-room');
  const chosen = select.value;
  const options = [el('option', '', 'All rooms')];
  options[0].value = '';
  for (const r of state.rooms) {
    const o = el('option', '', r.name);
    o.value = r.room_id;
    titleOf(r).then((t) => {
      o.textContent = t;
    });
    options.push(o);
  }
  select.replaceChildren(...options);
  select.value = state.rooms.some((r) => r.room_id === chosen) ? chosen : '';
  const current = state.rooms.find((r) => r.room_id === state.current);
  if (current) showHeader(current);
  else if (state.current) closeRoom();
}

/** The open room's title and member count, as the room list last said (a rename shows here). */
function showHeader(room) {
  const title = $('room-title');
  if (title.dataset.roomId !== room.room_id || !room.direct) title.textContent = room.name;
  title.dataset.roomId = room.room_id;
  titleOf(room).then((t) => {
    if (state.current === room.room_id) title.textContent = t;
  });
  $('room-sub').textContent = room.direct ? 'direct' : `${room.member_count} members`;
}

$('new-room-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const members = [];
    for (const u of String(f.get('members') || '').split(',').map((s) => s.trim()).filter(Boolean)) {
      members.push((await api.get(`/v1/users?username=${encodeURIComponent(u)}`)).user_id);
    }
    const r = await api.post('/v1/rooms', { name: f.get('name').trim(), members });
    e.target.reset();
    await loadRooms(r.position);
    openRoom(r.room_id);
  } catch (err) {
    toast(err.code === 'user_not_found' ? 'No such user' : err.message);
  }
});

// ---- the open room ----

const timeline = new Timeline($('timeline'), {
  api,
  me: () => api.userId,
  nameOf,
  toast,
  markRead,
});

function markRead(roomId, seq) {
  if ((state.read.get(roomId) || 0) >= seq) return;
  state.read.set(roomId, seq);
  const room = state.rooms.find((r) => r.room_id === roomId);
  if (room && room.unread_count === 0 && room.last_message && room.last_message.seq <= seq) return;
  api.post(`/v1/rooms/${roomId}/read`, { seq }).catch(() => state.read.delete(roomId));
}

async function openRoom(roomId, focusSeq) {
  let room = state.rooms.find((r) => r.room_id === roomId);
  if (!room) {
    // A link (a meet-up, a search hit) can name a room the list has not caught
    // up with yet: read the list at what this page has seen, then look again.
    await loadRooms(api.position);
    room = state.rooms.find((r) => r.room_id === roomId);
    if (!room) {
      toast('That room is not in your list');
      return;
    }
  }
  state.current = roomId;
  roomChanged();
  history.replaceState(null, '', `#room=${roomId}${focusSeq ? `&seq=${focusSeq}` : ''}`);
  renderRooms();
  $('composer').hidden = false;
  $('members-toggle').hidden = room.direct;
  $('leave').hidden = room.direct;
  showMute(room);
  if (!$('members-panel').hidden) renderMembers(true);
  showNotice(null);
  uploads.clear();
  loadNotice(roomId);
  try {
    await timeline.open(roomId, focusSeq);
  } catch (e) {
    toast(e.message);
  }
  if (!focusSeq) $('composer-input').focus();
}

function closeRoom() {
  state.current = null;
  roomChanged();
  showNotice(null);
  uploads.clear();
  timeline.clear();
  history.replaceState(null, '', '#');
  $('room-title').textContent = 'Pick a room';
  delete $('room-title').dataset.roomId;
  $('room-sub').textContent = '';
  $('composer').hidden = true;
  $('members-toggle').hidden = true;
  $('leave').hidden = true;
  showMute(null);
  $('members-panel').hidden = true;
}

async function send() {
  const input = $('composer-input');
  const body = input.value.trim();
  const roomId = state.current;
  if (uploads.busy()) {
    toast('파일을 올리는 중이에요. 다 올라가면 보내 주세요.');
    return;
  }
  const files = uploads.ready();
  if ((!body && !files.length) || !roomId) return;
  input.value = '';
  const mentioned = mentions.take(body);
  const request = { body, mentions: mentioned };
  if (files.length) request.attachments = files.map((f) => f.attachment_id);
  try {
    const r = await api.post(`/v1/rooms/${roomId}/messages`, request);
    if (files.length) uploads.clear();
    if (state.current === roomId) {
      timeline.live({
        message_id: r.message_id,
        room_id: roomId,
        seq: r.seq,
        author_id: api.userId,
        body,
        created_at: new Date().toISOString(),
        edited_at: null,
        deleted: false,
        mentions: mentioned,
        reactions: [],
        attachments: files,
      });
      timeline.refreshCounts(r.position);
    }
  } catch (e) {
    input.value = body;
    toast(e.message);
  }
}

// Registered before Enter sends, so Enter picks a suggested member first.
const mentions = new Mentions($('composer-input'), $('mention-list'));
const uploads = new Uploads($('upload-tray'), () => state.current);
initAttachments(uploads, { button: $('attach-button'), input: $('attach-input'), composer: $('composer-input'), room: $('room') });
onEnter($('composer-input'), send);
$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});

$('leave').addEventListener('click', async () => {
  const roomId = state.current;
  if (!roomId) return;
  try {
    const r = await api.del(`/v1/rooms/${roomId}/members/${api.userId}`);
    closeRoom();
    await loadRooms(r.position);
  } catch (e) {
    toast(e.message);
  }
});

// ---- live frames ----

function onFrame(f) {
  // Typing and presence frames are ephemeral: no position, nothing to reload.
  if (f.type === 'typing' || f.type === 'presence') {
    onLiveFrame(f);
    return;
  }
  const here = f.room_id === state.current;
  meetups.onFrame(f);
  if (f.type === 'notification') {
    notifications.onFrame(f);
    // Someone asked, or accepted: the friends and request lists change.
    if (f.notification.kind.startsWith('friend_')) renderFriends();
    return;
  }
  switch (f.type) {
    case 'message_posted':
      if (here) {
        timeline.live({
          message_id: f.message_id,
          room_id: f.room_id,
          seq: f.seq,
          author_id: f.author_id,
          body: f.body,
          created_at: f.at,
          edited_at: null,
          deleted: false,
          mentions: f.mentions || [],
          reactions: f.reactions || [],
          attachments: f.attachments || [],
          unread_by: f.unread_by,
        });
        // Posting moves the poster's marker: earlier counts may drop.
        if (f.author_id !== api.userId) timeline.refreshCounts(f.position);
      }
      break;
    case 'reactions_changed':
      if (here) timeline.setReactions(f.seq, f.reactions);
      break;
    case 'message_hidden':
      if (here) timeline.drop(f.seq);
      break;
    case 'notice_changed':
      if (here) showNotice(f.notice);
      break;
    case 'read_marker':
      if (here) timeline.refreshCounts(f.position);
      break;
    case 'message_edited':
      if (here) timeline.update(f.seq, { body: f.body, edited_at: f.at, deleted: false });
      break;
    case 'message_deleted':
      if (here) timeline.update(f.seq, { deleted: true });
      break;
    case 'member_left':
    case 'member_kicked':
      if (f.user_id === api.userId) {
        state.rooms = state.rooms.filter((r) => r.room_id !== f.room_id);
        state.details.delete(f.room_id);
        if (here) {
          closeRoom();
          if (f.type === 'member_kicked') toast('You were removed from the room');
        }
        renderRooms();
      } else {
        state.details.delete(f.room_id);
        if (here && !$('members-panel').hidden) renderMembers(true);
        if (here) timeline.refreshCounts(f.position);
      }
      break;
    case 'room_renamed':
      if (here && f.name) $('room-title').textContent = f.name;
    // falls through: the members panel and the room list follow as for a join
    case 'member_joined':
      state.details.delete(f.room_id);
      if (here && !$('members-panel').hidden) renderMembers(true);
      break;
    case 'resync_required':
      if (here || !f.room_id) {
        if (state.current) openRoom(state.current);
      }
      break;
    default:
      break;
  }
  if (f.type !== 'read_marker' || f.user_id === api.userId) scheduleRooms(f.position);
}

// ---- start ----

initSearch(openRoom);
initSettings(() => logout(true));
initPresence();
const meetups = initMeetups(openRoom);
const notifications = initNotifications(openRoom);

if (api.token) {
  keepFresh();
  enter();
} else {
  showAuth();
}

initPeople({ loadRooms, openRoom, refreshMembers: () => renderMembers(true) });
