// What every part of the client shares: the API client, the signed-in
// user's state, and lookups of names and room details (each fetched once).

import { Api } from './api.js';

export const api = new Api();
export const $ = (id) => document.getElementById(id);

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
