// The messenger parts of a room (issue 15): reactions under each message,
// the unread "1" beside it (counting down live), "delete for me" and
// "delete for everyone", the notice pinned at the top, and @ autocomplete of
// members in the composer. User text only reaches the page through
// textContent.

import { el } from './dom.js';
import { $, api, nameOf, roomDetail, state, toast } from './session.js';

/** The quick reactions offered under a message. */
const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

const enc = (s) => encodeURIComponent(s);

/** Draw a message's reactions and its unread "1" into its row. */
export function paint(row, m) {
  if (m.deleted) {
    row.querySelector('.reactions')?.remove();
    row.querySelector('.unread-by')?.remove();
    row.querySelector('.msg-tools')?.remove();
    return;
  }
  if ('unread_by' in m) {
    let badge = row.querySelector('.unread-by');
    if (!badge) {
      badge = el('span', 'unread-by');
      row.querySelector('.meta').append(badge);
    }
    badge.textContent = m.unread_by > 0 ? String(m.unread_by) : '';
  }
  if ('reactions' in m) {
    let bar = row.querySelector('.reactions');
    if (!bar) {
      bar = el('div', 'reactions');
      row.querySelector('.body').after(bar);
    }
    bar.replaceChildren(
      ...m.reactions.map((r) => {
        const b = el('button', r.me ? 'reaction me' : 'reaction', `${r.emoji} ${r.count}`);
        b.type = 'button';
        b.dataset.emoji = r.emoji;
        b.addEventListener('click', () => react(row, r.emoji, !r.me));
        return b;
      }),
    );
  }
  if (Array.isArray(m.mentions) && m.mentions.includes(api.userId)) row.classList.add('mentions-me');
}

/** The tools every message gets: react, pin, delete for me (and, for own
 * messages, the timeline's "delete for everyone"). */
export function tools(row, onHidden) {
  const box = el('div', 'msg-tools');
  for (const emoji of QUICK) {
    const b = el('button', 'ghost quick-react', emoji);
    b.type = 'button';
    b.title = `React ${emoji}`;
    b.addEventListener('click', () => react(row, emoji, true));
    box.append(b);
  }
  const pin = el('button', 'ghost pin', 'Pin');
  pin.type = 'button';
  pin.title = 'Make this the room notice';
  pin.addEventListener('click', async () => {
    try {
      await api.put(`/v1/rooms/${row.dataset.roomId}/notice`, { message_id: row.dataset.messageId });
    } catch (e) {
      toast(e.message);
    }
  });
  const hide = el('button', 'ghost hide', 'Delete for me');
  hide.type = 'button';
  hide.addEventListener('click', async () => {
    try {
      await api.post(`/v1/rooms/${row.dataset.roomId}/messages/${row.dataset.messageId}/hide`);
      onHidden(Number(row.dataset.seq));
    } catch (e) {
      toast(e.message);
    }
  });
  box.append(pin, hide);
  return box;
}

async function react(row, emoji, on) {
  const path = `/v1/rooms/${row.dataset.roomId}/messages/${row.dataset.messageId}/reactions/${enc(emoji)}`;
  try {
    if (on) await api.put(path);
    else await api.del(path);
  } catch (e) {
    toast(e.code === 'reaction_not_found' ? 'Already taken back' : e.message);
  }
}

/** Show `notice` (or none) pinned at the top of the open room. */
export function showNotice(notice) {
  const bar = $('notice');
  if (!notice) {
    bar.hidden = true;
    bar.replaceChildren();
    return;
  }
  const text = el('span', 'notice-text', notice.body_preview);
  const who = el('span', 'sub', '');
  nameOf(notice.set_by).then((n) => {
    who.textContent = ` · ${n}`;
  });
  const clear = el('button', 'ghost notice-clear', 'Unpin');
  clear.type = 'button';
  clear.addEventListener('click', async () => {
    try {
      await api.del(`/v1/rooms/${state.current}/notice`);
    } catch (e) {
      toast(e.message);
    }
  });
  bar.replaceChildren(el('span', 'notice-label', '📌'), text, who, clear);
  bar.dataset.messageId = notice.message_id;
  bar.hidden = false;
}

/** The open room's notice, read fresh. */
export async function loadNotice(roomId) {
  try {
    const d = await roomDetail(roomId, true);
    if (state.current === roomId) showNotice(d.notice);
  } catch {
    showNotice(null);
  }
}

/**
 * `@` autocomplete of the open room's members in `input`. Works on the
 * text as it stands after an input method composed it (Korean syllables are
 * assembled over several key presses; nothing is looked up mid-composition).
 * `take()` gives the ids of the members still mentioned in the text.
 */
export class Mentions {
  constructor(input, list) {
    this.input = input;
    this.list = list;
    this.picked = new Map();
    this.composing = false;
    input.addEventListener('compositionstart', () => {
      this.composing = true;
    });
    input.addEventListener('compositionend', () => {
      this.composing = false;
      this.suggest();
    });
    input.addEventListener('input', (e) => {
      if (!e.isComposing && !this.composing) this.suggest();
    });
    input.addEventListener('keydown', (e) => {
      if (this.list.hidden || e.isComposing) return;
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) {
        const first = this.list.querySelector('li');
        if (first) {
          e.preventDefault();
          e.stopImmediatePropagation();
          first.click();
        }
      } else if (e.key === 'Escape') {
        this.list.hidden = true;
      }
    });
  }

  /** The `@word` being typed before the caret, if any. */
  typed() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const m = /(^|\s)@([^\s@]*)$/.exec(before);
    return m ? { query: m[2], start: before.length - m[2].length - 1 } : null;
  }

  async suggest() {
    const t = this.typed();
    const roomId = state.current;
    if (!t || !roomId) {
      this.list.hidden = true;
      return;
    }
    let d;
    try {
      d = await roomDetail(roomId);
    } catch {
      return;
    }
    const people = await Promise.all(
      d.members.filter((m) => m.user_id !== api.userId).map(async (m) => ({ id: m.user_id, name: await nameOf(m.user_id) })),
    );
    const q = t.query.toLowerCase();
    const hits = people.filter((p) => p.name.toLowerCase().startsWith(q)).slice(0, 8);
    if (!hits.length || this.typed()?.query !== t.query) {
      this.list.hidden = !hits.length ? true : this.list.hidden;
      return;
    }
    this.list.replaceChildren(
      ...hits.map((p) => {
        const li = el('li', 'mention-option', p.name);
        li.dataset.userId = p.id;
        li.addEventListener('mousedown', (e) => e.preventDefault());
        li.addEventListener('click', () => this.pick(p, t));
        return li;
      }),
    );
    this.list.hidden = false;
  }

  pick(person, t) {
    const v = this.input.value;
    const end = t.start + 1 + t.query.length;
    const insert = `@${person.name} `;
    this.input.value = v.slice(0, t.start) + insert + v.slice(end);
    const caret = t.start + insert.length;
    this.input.setSelectionRange(caret, caret);
    this.picked.set(person.id, person.name);
    this.list.hidden = true;
    this.input.focus();
  }

  /** Ids of picked members whose `@name` is still in `body`; forgets them. */
  take(body) {
    const ids = [...this.picked].filter(([, name]) => body.includes(`@${name}`)).map(([id]) => id);
    this.picked.clear();
    this.list.hidden = true;
    return ids;
  }
}
