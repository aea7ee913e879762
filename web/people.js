// People (issue 16): member roles and their controls, invite links (create,
// copy, a QR code, and the join page at `/invite/TOKEN`, or `#invite=TOKEN`
// as links made before it), blocking, muting a room, and
// finding people by name or by 초성 (initial consonants).

import { el } from './dom.js';
import qrcode from './vendor/qrcode.mjs';
import { renderFriends } from './presence.js';
import { $, api, roomDetail, state, toast } from './session.js';

let hooks = { loadRooms: async () => {}, openRoom: () => {}, refreshMembers: () => {} };
/** Users the caller blocked (ids), loaded on demand. */
let blocked = null;

/** Wire the people parts of the page; `h` gives back the app's own actions. */
export function initPeople(h) {
  hooks = { ...hooks, ...h };
}

async function blockedSet(fresh) {
  if (fresh || !blocked) {
    const b = await api.get('/v1/me/blocks', { min: api.position });
    blocked = new Set(b.blocks.map((x) => x.user_id));
  }
  return blocked;
}

// ---- members: roles and blocks ----

/** The controls of one member row (`li`) of room `d`, for the caller. */
export async function decorateMember(li, m, d) {
  const mine = d.members.find((x) => x.user_id === api.userId);
  if (!mine || m.user_id === api.userId) return;
  if (mine.role === 'owner' && !d.direct) {
    const pick = el('select', 'role-pick');
    pick.setAttribute('aria-label', 'Role');
    for (const [value, label] of [['member', 'member'], ['admin', 'admin'], ['owner', 'make owner']]) {
      const o = el('option', '', label);
      o.value = value;
      pick.append(o);
    }
    pick.value = m.role;
    pick.addEventListener('change', async () => {
      try {
        await api.put(`/v1/rooms/${d.room_id}/members/${m.user_id}/role`, { role: pick.value });
        hooks.refreshMembers();
      } catch (e) {
        toast(e.message);
        pick.value = m.role;
      }
    });
    li.append(pick);
  }
  const isBlocked = (await blockedSet(false)).has(m.user_id);
  const b = el('button', 'ghost block', isBlocked ? 'Unblock' : 'Block');
  b.type = 'button';
  b.addEventListener('click', () => toggleBlock(m.user_id, isBlocked));
  li.append(b);
}

async function toggleBlock(userId, isBlocked) {
  try {
    if (isBlocked) await api.del(`/v1/me/blocks/${userId}`);
    else await api.put(`/v1/me/blocks/${userId}`);
    await blockedSet(true);
    toast(isBlocked ? 'Unblocked' : 'Blocked: you will not see their messages');
    hooks.refreshMembers();
  } catch (e) {
    toast(e.message);
  }
}

/** Whether the caller may kick `m` in room `d` (owner: anyone; admin: members). */
export function mayKick(m, d) {
  const mine = d.members.find((x) => x.user_id === api.userId);
  if (!mine || m.user_id === api.userId) return false;
  return mine.role === 'owner' || (mine.role === 'admin' && m.role === 'member');
}

// ---- invite links ----

$('invite-create').addEventListener('click', async () => {
  const roomId = state.current;
  if (!roomId) return;
  try {
    const code = $('invite-code').value.trim();
    const r = await api.post(`/v1/rooms/${roomId}/invites`, code ? { code } : {});
    const link = `${location.origin}/invite/${r.token}`;
    $('invite-link').value = link;
    $('invite-qr').src = qrDataUrl(link);
    $('invite-qr').hidden = false;
    $('invite-result').hidden = false;
  } catch (e) {
    toast(e.code === 'not_room_admin' ? 'Only the owner and admins can invite' : e.message);
  }
});

$('invite-copy').addEventListener('click', async () => {
  const input = $('invite-link');
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    toast('Link copied');
  } catch {
    // No clipboard permission: the selected text can be copied by hand.
    toast('Select the link and copy it');
  }
});

/** A QR code of `text` as an image (a GIF `data:` URL), by qrcode-generator. */
function qrDataUrl(text) {
  const qr = qrcode(0, 'M'); // the smallest version that holds it
  qr.addData(text);
  qr.make();
  return qr.createDataURL(4, 4); // 4 px a module, the standard 4-module quiet zone
}

/** The token of an invite link in the address, if any. */
function inviteToken() {
  const path = location.pathname.match(/^\/invite\/([A-Za-z0-9_-]+)$/);
  return path ? path[1] : new URLSearchParams(location.hash.slice(1)).get('invite');
}

/** Leave the invite link's address for the client's own. */
function leaveInvite() {
  history.replaceState(null, '', '/');
}

/** Show the join page when the address is an invite link. */
export async function showInvite() {
  const token = inviteToken();
  const card = $('invite-join');
  if (!token) {
    card.hidden = true;
    return false;
  }
  try {
    const p = await api.get(`/v1/invites/${encodeURIComponent(token)}`);
    $('invite-room').textContent = p.name;
    $('invite-count').textContent = `${p.member_count} members`;
    $('invite-join-code').hidden = !p.has_code;
    card.hidden = false;
  } catch (e) {
    toast(e.code === 'invite_not_found' ? 'This invite link does not work any more' : e.message);
    leaveInvite();
    return false;
  }
  return true;
}

$('invite-join-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = inviteToken();
  const code = $('invite-join-code').value.trim();
  try {
    const r = await api.post(`/v1/invites/${encodeURIComponent(token)}/join`, code ? { code } : {});
    $('invite-join').hidden = true;
    leaveInvite();
    await hooks.loadRooms(r.position);
    hooks.openRoom(r.room_id);
  } catch (err) {
    if (err.code === 'already_member') {
      $('invite-join').hidden = true;
      leaveInvite();
      return;
    }
    toast(err.code === 'invalid_invite_code' ? 'Wrong code' : err.message);
  }
});

// ---- muting ----

/** Show the mute button of the open room `room`. */
export function showMute(room) {
  const b = $('mute-toggle');
  b.hidden = !room;
  if (room) b.textContent = room.muted ? 'Unmute' : 'Mute';
}

$('mute-toggle').addEventListener('click', async () => {
  const room = state.rooms.find((r) => r.room_id === state.current);
  if (!room) return;
  try {
    const r = room.muted
      ? await api.del(`/v1/rooms/${room.room_id}/mute`)
      : await api.put(`/v1/rooms/${room.room_id}/mute`, {});
    await hooks.loadRooms(r.position);
    showMute(state.rooms.find((x) => x.room_id === room.room_id));
  } catch (e) {
    toast(e.message);
  }
});

// ---- finding people ----

let searchTimer = null;

$('people-input').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(findPeople, 200);
});

async function findPeople() {
  const q = $('people-input').value.trim();
  const list = $('people-results');
  if (!q) {
    list.replaceChildren();
    return;
  }
  try {
    const r = await api.get(`/v1/users/search?q=${encodeURIComponent(q)}`);
    if ($('people-input').value.trim() !== q) return;
    const items = r.users
      .filter((u) => u.user_id !== api.userId)
      .map((u) => {
        const li = el('li', 'person');
        li.dataset.userId = u.user_id;
        li.append(el('span', 'name', u.display_name), el('span', 'sub', `@${u.username}`));
        const add = el('button', 'ghost', 'Add friend');
        add.type = 'button';
        add.addEventListener('click', async () => {
          try {
            await api.post('/v1/friends', { user_id: u.user_id });
            toast('Friend request sent');
            await renderFriends();
          } catch (e) {
            toast(e.code === 'already_friends' ? 'Already friends' : e.message);
          }
        });
        li.append(add);
        return li;
      });
    list.replaceChildren(...items);
    if (!items.length) list.append(el('li', 'empty', 'Nobody found'));
  } catch (e) {
    toast(e.message);
  }
}

/** The room detail, for the members panel. */
export function detailOf(roomId, fresh) {
  return roomDetail(roomId, fresh);
}

// An invite link pasted into the address bar of a signed-in page.
window.addEventListener('hashchange', () => {
  if (api.token && inviteToken()) showInvite();
});
