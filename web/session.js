// What every part of the client shares: the API client, the signed-in
// user's state, and lookups of names and room details (each fetched once).

import { Api } from './api.js';

export const api = new Api();
export const $ = (id) => document.getElementById(id);

// ---- silent refresh ----
// Access tokens live 15 minutes; the refresh token gives a new pair, once
// (presenting it twice ends the session). So one refresh at a time across
// every tab (a Web Lock where the browser has them), and a tab that waited
// adopts the pair another tab got instead of presenting a used token.

/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;
let refreshTimer = null;
let inflight = null;

async function exchange() {
  const before = localStorage.getItem('cotalk.refresh');
  const run = async () => {
    const now = localStorage.getItem('cotalk.refresh');
    if (!now) return false;
    if (now !== before) return true; // another tab refreshed meanwhile
    try {
      const s = await api.post('/v1/sessions/refresh', { refresh_token: now });
      api.saveSession(s);
      return true;
    } catch (err) {
      return err.status === 401 ? false : localStorage.getItem('cotalk.refresh') !== before;
    }
  };
  return navigator.locks ? navigator.locks.request('cotalk.refresh', run) : run();
}

/** Exchange the refresh token now (one exchange at a time); whether it worked. */
export function refreshNow() {
  if (!inflight) {
    inflight = exchange().finally(() => {
      inflight = null;
      keepFresh();
    });
  }
  return inflight;
}
api.refresh = refreshNow;

/** Schedule the next silent refresh before the stored token expires. */
export function keepFresh() {
  clearTimeout(refreshTimer);
  const expires = Date.parse(localStorage.getItem('cotalk.expires') || '');
  if (!api.token || !Number.isFinite(expires)) return;
  const wait = Math.max(expires - Date.now() - EARLY_MS, 1_000);
  refreshTimer = setTimeout(() => refreshNow(), wait);
}

/** Stop refreshing (logged out). */
export function stopRefreshing() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
}

export const state = {
  me: null,
  rooms: [],
  current: null,
  /** room id → the room's detail (members, owner), loaded on demand. */
  details: new Map(),
  /** room id → highest seq this client marked read. */
  read: new Map(),
};
export const users = new Map();

/** A short message at the bottom of the page for a few seconds. */
export function toast(message) {
  const t = $('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    t.hidden = true;
  }, 4000);
}

/** A user's display name, fetched once. */
export function nameOf(userId) {
  if (!users.has(userId)) {
    users.set(
      userId,
      api.get(`/v1/users/${userId}`).then(
        (u) => u.display_name || u.username,
        () => 'unknown',
      ),
    );
  }
  return users.get(userId);
}

export async function roomDetail(roomId, fresh) {
  if (fresh || !state.details.has(roomId)) {
    state.details.set(roomId, await api.get(`/v1/rooms/${roomId}`, { min: api.position }));
  }
  return state.details.get(roomId);
}

/** What a room is called: its name, or for a direct room the other person. */
export async function titleOf(room) {
  if (!room.direct) return room.name;
  try {
    const d = await roomDetail(room.room_id);
    const other = d.members.find((m) => m.user_id !== api.userId);
    return other ? await nameOf(other.user_id) : room.name;
  } catch {
    return room.name;
  }
}
