// The month grid of the meet-ups view (issue 17): one month in the viewer's
// own time zone (the browser's), weeks starting on Sunday with Korean
// labels, each day listing the meet-ups that start on it. The month's
// meet-ups come from `GET /v1/me/meetups?from=&to=` with the month's bounds
// as instants, so a meet-up at 00:30 KST on the 1st is on the 1st here even
// though it is still the previous month in UTC.

import { el } from './dom.js';
import { $, api, toast } from './session.js';

const WEEKDAYS = ['일', '월', '화', '수', '목', '금', '토'];

/** `YYYY-MM-DD` of a local date (the key of a grid cell). */
export function dayKey(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * Wire the grid; `onPick(meetup)` is called when a meet-up in it is clicked.
 * Returns `{ render }` (draw the shown month again, e.g. after a change).
 */
export function initCalendar(onPick) {
  const now = new Date();
  let year = now.getFullYear();
  let month = now.getMonth();

  async function render() {
    const first = new Date(year, month, 1);
    const next = new Date(year, month + 1, 1);
    $('meetup-month-label').textContent = `${year}년 ${month + 1}월`;
    const query = `from=${encodeURIComponent(first.toISOString())}&to=${encodeURIComponent(next.toISOString())}`;
    const data = await api.get(`/v1/me/meetups?${query}`, { min: api.position });
    const byDay = new Map();
    for (const m of data.meetups) {
      const key = dayKey(new Date(m.starts_at));
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(m);
    }
    const cells = WEEKDAYS.map((w) => el('div', 'weekday', w));
    for (let i = 0; i < first.getDay(); i += 1) cells.push(el('div', 'day blank'));
    const today = dayKey(new Date());
    for (let d = new Date(first); d < next; d.setDate(d.getDate() + 1)) {
      const key = dayKey(d);
      const cell = el('div', key === today ? 'day today' : 'day');
      cell.dataset.day = key;
      cell.append(el('span', 'date', String(d.getDate())));
      for (const m of byDay.get(key) || []) {
        const chip = el('button', m.cancelled ? 'chip cancelled' : 'chip', m.title);
        chip.type = 'button';
        chip.dataset.meetupId = m.meetup_id;
        chip.title = new Date(m.starts_at).toLocaleTimeString('ko-KR', { timeStyle: 'short' });
        chip.addEventListener('click', () => onPick(m));
        cell.append(chip);
      }
      cells.push(cell);
    }
    $('meetup-grid').replaceChildren(...cells);
  }

  function move(by) {
    month += by;
    year += Math.floor(month / 12);
    month = ((month % 12) + 12) % 12;
    render().catch((e) => toast(e.message));
  }

  $('meetup-prev-month').addEventListener('click', () => move(-1));
  $('meetup-next-month').addEventListener('click', () => move(1));
  return { render };
}
