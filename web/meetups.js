// Meet-ups (issue 17): the upcoming list with RSVP buttons and a link to each
// meet-up's room, a month grid (web/meetups_calendar.js), one form that
// plans a meet-up or edits one the viewer organizes (invitees picked from
// friends), cancelling, the calendar feed's URL to copy, and reminders shown
// when their frame arrives.

import { el } from './dom.js';
import { initCalendar } from './meetups_calendar.js';
import { $, api, nameOf, toast } from './session.js';

const ANSWERS = [
  ['going', '참석'],
  ['maybe', '미정'],
  ['declined', '불참'],
];
const STATUS = { going: '참석', maybe: '미정', declined: '불참', pending: '응답 전' };

/** A time in the viewer's time zone, in Korean. */
function when(iso) {
  return new Date(iso).toLocaleString('ko-KR', { dateStyle: 'medium', timeStyle: 'short' });
}

/** A `datetime-local` value (the viewer's time zone) of an instant. */
function localValue(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Wire the meet-ups panel; `openRoom(roomId)` shows a meet-up's room. */
export function initMeetups(openRoom) {
  // The meet-up the form edits (null: the form plans a new one).
  let editing = null;
  const calendar = initCalendar((m) => {
    if (m.organizer_id === api.userId && !m.cancelled) startEdit(m);
    else openRoom(m.room_id);
  });

  async function renderList() {
    const from = new Date(Date.now() - 3600_000).toISOString();
    const data = await api.get(`/v1/me/meetups?from=${encodeURIComponent(from)}`, { min: api.position });
    const items = data.meetups.map((m) => {
      const li = el('li', 'meetup');
      li.dataset.meetupId = m.meetup_id;
      const mine = m.attendees.find((a) => a.user_id === api.userId);
      const head = el('div', 'meta');
      head.append(el('strong', 'title', m.title), el('time', 'time', when(m.starts_at)));
      if (m.place) head.append(el('span', 'place', m.place));
      if (m.cancelled) head.append(el('span', 'cancelled', '취소됨'));
      const status = el('div', 'sub rsvp-status', `내 응답: ${STATUS[mine ? mine.rsvp : 'pending']}`);
      const actions = el('div', 'actions');
      if (!m.cancelled) {
        for (const [answer, label] of ANSWERS) {
          const b = el('button', mine && mine.rsvp === answer ? 'chosen' : 'ghost', label);
          b.type = 'button';
          b.dataset.answer = answer;
          b.addEventListener('click', async () => {
            try {
              await api.post(`/v1/meetups/${m.meetup_id}/rsvp`, { answer });
              await renderList();
            } catch (e) {
              toast(e.message);
            }
          });
          actions.append(b);
        }
      }
      const room = el('button', 'ghost room-link', '대화방');
      room.type = 'button';
      room.addEventListener('click', () => openRoom(m.room_id));
      actions.append(room);
      if (m.organizer_id === api.userId && !m.cancelled) {
        const edit = el('button', 'ghost edit-meetup', '수정');
        edit.type = 'button';
        edit.addEventListener('click', () => startEdit(m));
        const cancel = el('button', 'ghost cancel-meetup', '모임 취소');
        cancel.type = 'button';
        cancel.addEventListener('click', async () => {
          if (!window.confirm(`'${m.title}' 모임을 취소할까요? 참석자 모두에게 알려요.`)) return;
          try {
            await api.call('DELETE', `/v1/meetups/${m.meetup_id}`);
            if (editing && editing.meetup_id === m.meetup_id) stopEdit();
            await refresh();
          } catch (e) {
            toast(e.message);
          }
        });
        actions.append(edit, cancel);
      }
      li.append(head, status, actions);
      return li;
    });
    $('meetup-list').replaceChildren(...items);
    $('meetup-empty').hidden = items.length > 0;
  }

  /** Redraw whichever of the list and the month grid is shown. */
  function refresh() {
    return $('meetup-grid-view').hidden ? renderList() : calendar.render();
  }

  /** Invitee boxes: every friend, or when editing those not attending yet. */
  async function renderFriends() {
    const data = await api.get('/v1/me/friends', { min: api.position });
    const attending = new Set(editing ? editing.attendees.map((a) => a.user_id) : []);
    const boxes = data.friends.filter((f) => !attending.has(f.user_id)).map((f) => {
      const label = el('label', 'invitee');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'invitee';
      box.value = f.user_id;
      label.append(box, document.createTextNode(` ${f.display_name || f.username}`));
      return label;
    });
    $('meetup-invitees').replaceChildren(...boxes);
  }

  async function show() {
    $('search-panel').hidden = true;
    $('members-panel').hidden = true;
    $('meetups-panel').hidden = false;
    try {
      await Promise.all([refresh(), renderFriends()]);
    } catch (e) {
      toast(e.message);
    }
  }

  /** Fill the form with `m` (organized by the viewer) to change it. */
  function startEdit(m) {
    editing = m;
    const form = $('meetup-form');
    form.elements.title.value = m.title;
    form.elements.starts_at.value = localValue(m.starts_at);
    form.elements.place.value = m.place || '';
    form.elements.remind.value = String(m.remind_before_minutes);
    $('meetup-form-title').textContent = '모임 수정';
    $('meetup-submit').textContent = '저장';
    $('meetup-edit-stop').hidden = false;
    renderFriends().catch((e) => toast(e.message));
    form.elements.title.focus();
  }

  function stopEdit() {
    editing = null;
    $('meetup-form').reset();
    $('meetup-form-title').textContent = '새 모임';
    $('meetup-submit').textContent = '모임 만들기';
    $('meetup-edit-stop').hidden = true;
    renderFriends().catch((e) => toast(e.message));
  }

  /** Send the edit form: only what changed, then invite newly ticked friends. */
  async function saveEdit(form, body) {
    const m = editing;
    const change = {};
    if (body.title !== m.title) change.title = body.title;
    if (new Date(body.starts_at).getTime() !== new Date(m.starts_at).getTime()) change.starts_at = body.starts_at;
    if ((body.place || '') !== (m.place || '')) change.place = body.place || null;
    if (body.remind_before_minutes !== m.remind_before_minutes) change.remind_before_minutes = body.remind_before_minutes;
    if (Object.keys(change).length > 0) await api.patch(`/v1/meetups/${m.meetup_id}`, change);
    for (const user_id of body.invitees) {
      await api.post(`/v1/meetups/${m.meetup_id}/attendees`, { user_id });
    }
    stopEdit();
  }

  $('meetup-view-list').addEventListener('click', () => {
    $('meetup-grid-view').hidden = true;
    $('meetup-list-view').hidden = false;
    renderList().catch((e) => toast(e.message));
  });
  $('meetup-view-month').addEventListener('click', () => {
    $('meetup-list-view').hidden = true;
    $('meetup-grid-view').hidden = false;
    calendar.render().catch((e) => toast(e.message));
  });
  $('meetup-edit-stop').addEventListener('click', stopEdit);

  $('meetups-open').addEventListener('click', show);
  $('meetups-close').addEventListener('click', () => {
    $('meetups-panel').hidden = true;
  });

  $('meetup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const local = form.elements.starts_at.value;
    const body = {
      title: form.elements.title.value.trim(),
      starts_at: local ? new Date(local).toISOString() : '',
      invitees: [...form.querySelectorAll('input[name=invitee]:checked')].map((b) => b.value),
      remind_before_minutes: Number(form.elements.remind.value || '30'),
    };
    const place = form.elements.place.value.trim();
    if (place) body.place = place;
    try {
      if (editing) {
        await saveEdit(form, body);
      } else {
        await api.post('/v1/meetups', body);
        form.reset();
      }
      await refresh();
    } catch (err) {
      toast(err.code === 'invalid_meetup' ? `모임을 저장할 수 없어요: ${err.message}` : err.message);
    }
  });

  $('calendar-url').addEventListener('click', async () => {
    try {
      const t = await api.call('POST', '/v1/me/calendar-token');
      const url = new URL(t.url, window.location.origin).toString();
      $('calendar-url-text').value = url;
      $('calendar-url-text').hidden = false;
      try {
        await navigator.clipboard.writeText(url);
        toast('캘린더 주소를 복사했어요 (이전 주소는 더 이상 쓸 수 없어요)');
      } catch {
        $('calendar-url-text').select();
      }
    } catch (e) {
      toast(e.message);
    }
  });

  return {
    /** A live frame: reminders for this user become a notice; changes refresh the list. */
    onFrame(f) {
      if (f.type === 'meetup_reminder' && f.user_id === api.userId) {
        api
          .get(`/v1/meetups/${f.meetup_id}`, { min: f.position })
          .then((m) => toast(`곧 시작해요: ${m.title} (${when(m.starts_at)})`))
          .catch(() => toast('곧 시작하는 모임이 있어요'));
      } else if (f.type === 'meetup_changed' || f.type === 'meetup_cancelled') {
        if (f.type === 'meetup_cancelled') nameOf(f.by).then((n) => toast(`${n}님이 모임을 취소했어요`));
        if (!$('meetups-panel').hidden) refresh().catch(() => {});
      }
    },
  };
}
