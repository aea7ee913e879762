// Meet-ups (issue 17): the upcoming list with RSVP buttons and a link to each
// meet-up's room, a create form whose invitees are picked from friends, the
// calendar feed's URL to copy, and reminders shown when their frame arrives.

import { el } from './dom.js';
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

/** Wire the meet-ups panel; `openRoom(roomId)` shows a meet-up's room. */
export function initMeetups(openRoom) {
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
      li.append(head, status, actions);
      return li;
    });
    $('meetup-list').replaceChildren(...items);
    $('meetup-empty').hidden = items.length > 0;
  }

  async function renderFriends() {
    const data = await api.get('/v1/me/friends', { min: api.position });
    const boxes = data.friends.map((f) => {
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
      await Promise.all([renderList(), renderFriends()]);
    } catch (e) {
      toast(e.message);
    }
  }

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
      await api.post('/v1/meetups', body);
      form.reset();
      await renderList();
    } catch (err) {
      toast(err.code === 'invalid_meetup' ? `모임을 만들 수 없어요: ${err.message}` : err.message);
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
        if (!$('meetups-panel').hidden) renderList().catch(() => {});
      }
    },
  };
}
