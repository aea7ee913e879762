// Notifications (issue 16): the bell in the header with the unread count,
// a dropdown list with a Korean line per kind, everything marked read when
// it is opened, kept live by the `notification` frame (the feed is reloaded
// whenever the stream (re)connects, as those frames are not replayed).

import { el, formatTime } from './dom.js';
import { $, api, nameOf, toast } from './session.js';

/** What each kind says after the actor's name. */
const LABELS = {
  mention: '님이 회원님을 언급했어요',
  reply: '님이 회원님의 메시지에 답장했어요',
  reaction: '님이 회원님의 메시지에 반응했어요',
  friend_request: '님이 친구 요청을 보냈어요',
  friend_accepted: '님이 친구 요청을 수락했어요',
  added_to_room: '님이 회원님을 대화방에 추가했어요',
  meetup_invited: '님이 회원님을 모임에 초대했어요',
  meetup_changed: '님이 모임 정보를 바꿨어요',
  meetup_cancelled: '님이 모임을 취소했어요',
  meetup_reminder: '님의 모임이 곧 시작해요',
};

/** Wire the bell; `openRoom(roomId)` opens the room a notification is about. */
export function initNotifications(openRoom) {
  let items = [];
  let unread = 0;
  const panel = $('notif-panel');

  function renderCount() {
    const badge = $('bell-count');
    badge.textContent = unread > 99 ? '99+' : String(unread);
    badge.hidden = unread === 0;
    $('bell').setAttribute('aria-label', `알림 ${unread}개`);
  }

  async function render() {
    const rows = await Promise.all(
      items.map(async (n) => {
        const li = el('li', n.read ? 'notif' : 'notif unread');
        li.dataset.kind = n.kind;
        const who = await nameOf(n.actor_id);
        li.append(el('span', 'text', `${who}${LABELS[n.kind] || ''}`), el('time', 'time', formatTime(n.at)));
        if (n.room_id) {
          li.classList.add('link');
          li.addEventListener('click', () => {
            panel.hidden = true;
            openRoom(n.room_id);
          });
        }
        return li;
      }),
    );
    $('notif-list').replaceChildren(...rows);
    $('notif-empty').hidden = items.length > 0;
  }

  async function markRead() {
    if (unread === 0 || items.length === 0) return;
    try {
      await api.post('/v1/me/notifications/read', { up_to: items[0].notification_id });
      for (const n of items) n.read = true;
      unread = 0;
      renderCount();
    } catch (e) {
      toast(e.message);
    }
  }

  /** Reload the newest page (at least at position `min`). */
  async function load(min) {
    try {
      const page = await api.get('/v1/me/notifications?limit=30', { min });
      items = page.notifications;
      unread = page.unread_count;
      renderCount();
      if (!panel.hidden) await render();
    } catch {
      // The bell keeps what it had; the next frame or reconnect reloads.
    }
  }

  $('bell').addEventListener('click', async () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      await render();
      await markRead();
    }
  });
  $('notif-close').addEventListener('click', () => {
    panel.hidden = true;
  });

  return {
    load,
    /** A live frame: a `notification` one joins the list (once). */
    async onFrame(f) {
      if (f.type !== 'notification') return;
      const n = f.notification;
      if (items.some((x) => x.notification_id === n.notification_id)) return;
      items.unshift(n);
      if (!n.read) unread += 1;
      renderCount();
      if (!panel.hidden) {
        await render();
        await markRead();
      }
    },
    reset() {
      items = [];
      unread = 0;
      panel.hidden = true;
      renderCount();
    },
  };
}
