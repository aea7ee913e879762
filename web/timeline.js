// One room's timeline: a window of its messages by seq that grows upwards
// (older history as the user scrolls up) and downwards (newer history after a
// jump, then live frames once it reaches the newest message). User text only
// ever reaches the page through textContent.

import { el, formatTime, onEnter } from './dom.js';
import { renderAttachments } from './attachments.js';
import { paint, tools } from './messenger.js';

const PAGE = 40;

export class Timeline {
  /**
   * `ctx` gives: api, me (user id), nameOf(userId) → Promise<string>,
   * isOwner() → bool, toast(msg), markRead(seq).
   */
  constructor(container, ctx) {
    this.box = container;
    this.ctx = ctx;
    this.roomId = null;
    this.bySeq = new Map();
    this.minSeq = Infinity;
    this.maxSeq = 0;
    this.hasOlder = false;
    this.hasNewer = false;
    this.loading = false;
    this.generation = 0;
    this.box.addEventListener('scroll', () => this.onScroll());
  }

  clear() {
    this.generation++;
    this.roomId = null;
    this.bySeq.clear();
    this.minSeq = Infinity;
    this.maxSeq = 0;
    this.hasOlder = false;
    this.hasNewer = false;
    this.loading = false;
    this.box.replaceChildren();
  }

  /** Show `roomId`: its newest messages, or those around `focusSeq`. */
  async open(roomId, focusSeq) {
    this.clear();
    this.roomId = roomId;
    const gen = this.generation;
    const api = this.ctx.api;
    const base = `/v1/rooms/${roomId}/messages`;
    this.loading = true;
    try {
      if (focusSeq) {
        const older = await api.get(`${base}?before=${focusSeq + 1}&limit=${PAGE}`, { min: api.position });
        const newer = await api.get(`${base}?after=${focusSeq}&limit=${PAGE}`, { min: api.position });
        if (gen !== this.generation) return;
        this.hasOlder = older.has_more;
        this.hasNewer = newer.has_more;
        this.insert(older.messages.concat(newer.messages));
        const target = this.bySeq.get(focusSeq);
        // The message jumped to stays marked until another room is opened.
        if (target) {
          target.classList.add('focus');
          target.scrollIntoView({ block: 'center' });
        }
      } else {
        const page = await api.get(`${base}?limit=${PAGE}`, { min: api.position });
        if (gen !== this.generation) return;
        this.hasOlder = page.has_more;
        this.hasNewer = false;
        this.insert(page.messages);
        this.scrollToBottom();
      }
    } finally {
      if (gen === this.generation) this.loading = false;
    }
    this.readIfAtEnd();
    // A short first page may not fill the box: keep loading until it scrolls.
    this.onScroll();
  }

  scrollToBottom() {
    this.box.scrollTop = this.box.scrollHeight;
  }

  nearBottom() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 80;
  }

  async onScroll() {
    if (this.loading || !this.roomId) return;
    if (this.box.scrollTop < 150 && this.hasOlder) {
      await this.loadPage(true);
    } else if (this.nearBottom() && this.hasNewer) {
      await this.loadPage(false);
    } else {
      this.readIfAtEnd();
    }
  }

  /**
   * One more page: `older` above the first shown message (keeping what the
   * user looks at in place), else below the last one.
   */
  async loadPage(older) {
    const gen = this.generation;
    this.loading = true;
    const from = older ? `before=${this.minSeq}` : `after=${this.maxSeq}`;
    try {
      const page = await this.ctx.api.get(`/v1/rooms/${this.roomId}/messages?${from}&limit=${PAGE}`);
      if (gen !== this.generation) return;
      const fromBottom = this.box.scrollHeight - this.box.scrollTop;
      if (older) this.hasOlder = page.has_more;
      else this.hasNewer = page.has_more;
      this.insert(page.messages);
      if (older) this.box.scrollTop = this.box.scrollHeight - fromBottom;
    } catch (e) {
      this.ctx.toast(e.message);
    } finally {
      if (gen === this.generation) this.loading = false;
    }
    if (gen === this.generation) this.onScroll();
  }

  /** Mark the newest message read when the user can see it. */
  readIfAtEnd() {
    if (!this.hasNewer && this.maxSeq > 0 && this.nearBottom() && document.visibilityState !== 'hidden') {
      this.ctx.markRead(this.roomId, this.maxSeq);
    }
  }

  /** Messages in any order; those already shown are updated in place. */
  insert(messages) {
    const fresh = [];
    for (const m of messages) {
      const row = this.bySeq.get(m.seq);
      if (row) {
        this.update(m.seq, m);
        continue;
      }
      const node = this.render(m);
      this.bySeq.set(m.seq, node);
      fresh.push(m.seq);
    }
    fresh.sort((a, b) => a - b);
    for (const seq of fresh) {
      const node = this.bySeq.get(seq);
      // The next shown row with a greater seq, so rows stay ordered.
      let next = null;
      if (seq < this.maxSeq) {
        for (const row of this.box.children) {
          if (Number(row.dataset.seq) > seq) {
            next = row;
            break;
          }
        }
      }
      this.box.insertBefore(node, next);
      this.minSeq = Math.min(this.minSeq, seq);
      this.maxSeq = Math.max(this.maxSeq, seq);
    }
  }

  render(m) {
    const mine = m.author_id === this.ctx.me();
    const author = el('span', 'author', '…');
    this.ctx.nameOf(m.author_id).then((n) => {
      author.textContent = n;
    });
    const row = el('div', mine ? 'msg mine' : 'msg');
    row.dataset.seq = String(m.seq);
    row.dataset.messageId = m.message_id;
    row.dataset.roomId = m.room_id || this.roomId;
    const meta = el('div', 'meta');
    meta.append(author, el('time', 'time', formatTime(m.created_at)), el('span', 'edited', ''));
    const body = el('div', 'body');
    row.append(meta, body);
    if (m.attachments?.length && !m.deleted) body.before(renderAttachments(m.attachments));
    if (mine) {
      const actions = el('div', 'actions');
      const edit = el('button', 'edit', 'Edit');
      edit.type = 'button';
      edit.addEventListener('click', () => this.startEdit(row));
      const del = el('button', 'delete', 'Delete for everyone');
      del.type = 'button';
      del.addEventListener('click', () => this.remove(row, del));
      actions.append(edit, del);
      row.append(actions);
    }
    if (!m.deleted) row.append(tools(row, (seq) => this.drop(seq)));
    this.fill(row, m);
    return row;
  }

  /** A message the user hid: gone from this timeline. */
  drop(seq) {
    const row = this.bySeq.get(seq);
    if (!row) return;
    row.remove();
    this.bySeq.delete(seq);
  }

  /** A message's reactions changed (as this user sees them). */
  setReactions(seq, reactions) {
    const row = this.bySeq.get(seq);
    if (row) paint(row, { reactions });
  }

  /**
   * Read markers moved or a member left: read the shown messages' counts
   * again (at most once per half second, and only the newest page).
   */
  refreshCounts(position) {
    this.countsAt = Math.max(this.countsAt || 0, position || 0);
    if (this.countsTimer) return;
    this.countsTimer = setTimeout(async () => {
      this.countsTimer = null;
      if (!this.roomId || this.bySeq.size === 0) return;
      const gen = this.generation;
      const limit = Math.min(200, this.bySeq.size);
      try {
        const page = await this.ctx.api.get(
          `/v1/rooms/${this.roomId}/messages?before=${this.maxSeq + 1}&limit=${limit}`,
          { min: this.countsAt },
        );
        if (gen !== this.generation) return;
        for (const m of page.messages) {
          const row = this.bySeq.get(m.seq);
          if (row) paint(row, { unread_by: m.unread_by, reactions: m.reactions });
        }
      } catch {
        // The next frame tries again.
      }
    }, 500);
  }

  fill(row, m) {
    const body = row.querySelector('.body');
    if (m.deleted) {
      row.classList.add('deleted');
      body.textContent = 'This message was deleted';
      row.querySelector('.actions')?.remove();
      row.querySelector('.attachments')?.remove();
    } else {
      body.textContent = m.body;
    }
    row.querySelector('.edited').textContent = m.edited_at && !m.deleted ? '(edited)' : '';
    paint(row, m);
  }

  /** Apply an edit or a deletion to a shown message. */
  update(seq, change) {
    const row = this.bySeq.get(seq);
    if (!row) return;
    if (row.querySelector('.edit-box')) return;
    this.fill(row, change);
  }

  /** A live message: appended only when the window reaches the newest one. */
  live(m) {
    if (this.hasNewer || this.bySeq.has(m.seq)) {
      if (this.bySeq.has(m.seq)) this.update(m.seq, m);
      return;
    }
    const stick = this.nearBottom() || m.author_id === this.ctx.me();
    this.insert([m]);
    if (stick) this.scrollToBottom();
    this.readIfAtEnd();
  }

  startEdit(row) {
    if (row.querySelector('.edit-box')) return;
    const body = row.querySelector('.body');
    const original = body.textContent;
    const box = el('textarea', 'edit-box');
    box.value = original;
    box.rows = 2;
    body.replaceChildren(box);
    box.focus();
    const cancel = () => {
      box.remove();
      body.textContent = original;
    };
    onEnter(box, async () => {
      const text = box.value.trim();
      if (!text) return;
      try {
        await this.ctx.api.patch(`/v1/rooms/${this.roomId}/messages/${row.dataset.messageId}`, { body: text });
        box.remove();
        body.textContent = text;
        row.querySelector('.edited').textContent = '(edited)';
      } catch (e) {
        this.ctx.toast(e.message);
      }
    });
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') cancel();
    });
  }

  /** Delete after a second click on the same button (no modal dialog). */
  async remove(row, button) {
    if (button.dataset.armed !== '1') {
      button.dataset.armed = '1';
      button.textContent = 'Delete?';
      setTimeout(() => {
        button.dataset.armed = '';
        button.textContent = 'Delete for everyone';
      }, 4000);
      return;
    }
    try {
      await this.ctx.api.del(`/v1/rooms/${this.roomId}/messages/${row.dataset.messageId}`);
      this.fill(row, { deleted: true });
    } catch (e) {
      if (e.code === 'delete_window_passed') {
        this.ctx.toast('Too late to delete for everyone; delete for me instead');
        return;
      }
      this.ctx.toast(e.message);
    }
  }
}
