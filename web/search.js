// Search: the query box and room filter in the top bar, results with their
// matches highlighted, and a jump from a hit to the message in its room.

import { el, formatTime, onEnter, renderSnippet } from './dom.js';
import { $, api, nameOf, state, titleOf } from './session.js';

/** Wire the search controls; `openRoom(roomId, seq)` shows a hit. */
export function initSearch(openRoom) {
  async function search() {
    const q = $('search-input').value.trim();
    if (!q) return;
    const params = new URLSearchParams({ q, limit: '50' });
    // Days of before:/after:/on: are the viewer's own days.
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz) params.set('tz', tz);
    const room = $('search-room').value;
    if (room) params.set('room_id', room);
    $('members-panel').hidden = true;
    $('search-panel').hidden = false;
    $('search-summary').textContent = 'Searching…';
    let data;
    try {
      data = await api.get(`/v1/search/messages?${params}`, { min: api.position });
    } catch (e) {
      // An operator the server refuses is named in the detail (e.message).
      $('search-summary').textContent = e.code === 'invalid_query' ? `That query cannot be searched: ${e.message}` : e.message;
      $('search-results').replaceChildren();
      return;
    }
    $('search-summary').textContent = data.hits.length
      ? `${data.hits.length}${data.next_cursor ? '+' : ''} results for “${q}”`
      : `Nothing found for “${q}”`;
    const items = data.hits.map((h) => {
      const li = el('li', 'hit');
      li.tabIndex = 0;
      li.dataset.roomId = h.room_id;
      li.dataset.seq = String(h.seq);
      const meta = el('div', 'meta');
      const room = state.rooms.find((r) => r.room_id === h.room_id);
      const roomName = el('span', 'room-name', room ? room.name : '');
      if (room) {
        titleOf(room).then((t) => {
          roomName.textContent = t;
        });
      }
      const author = el('span', 'author', '');
      nameOf(h.author_id).then((n) => {
        author.textContent = n;
      });
      meta.append(roomName, author, el('time', 'time', formatTime(h.created_at)));
      const snippet = el('div', 'snippet');
      snippet.append(renderSnippet(h.snippet));
      li.append(meta, snippet);
      const jump = () => openRoom(h.room_id, h.seq);
      li.addEventListener('click', jump);
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') jump();
      });
      return li;
    });
    $('search-results').replaceChildren(...items);
  }

  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    search();
  });
  onEnter($('search-input'), search);
  $('search-room').addEventListener('change', () => {
    if ($('search-input').value.trim()) search();
  });
  $('search-close').addEventListener('click', () => {
    $('search-panel').hidden = true;
  });
}
