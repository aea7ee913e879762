// Settings: change the password (every other session ends), the list of
// this account's sessions, each with "Log out this device", and deleting
// the account (password and an explicit "I understand").

import { el, formatTime } from './dom.js';
import { $, api, toast } from './session.js';

async function renderSessions() {
  let data;
  try {
    data = await api.get('/v1/me/sessions');
  } catch (e) {
    toast(e.message);
    return;
  }
  const items = data.sessions.map((s) => {
    const li = el('li', 'session');
    li.dataset.sessionId = s.session_id;
    const what = s.user_agent || 'unknown device';
    li.append(el('span', 'name', s.current ? `${what} (this device)` : what));
    li.append(el('span', 'sub', ` since ${formatTime(s.created_at)}, last used ${formatTime(s.last_used_at)}`));
    if (!s.current) {
      const end = el('button', 'ghost danger', 'Log out this device');
      end.type = 'button';
      end.addEventListener('click', async () => {
        try {
          await api.del(`/v1/me/sessions/${s.session_id}`);
          toast('That device is logged out');
        } catch (e) {
          toast(e.code === 'session_not_found' ? 'That session had already ended' : e.message);
        }
        renderSessions();
      });
      li.append(end);
    }
    return li;
  });
  $('sessions').replaceChildren(...items);
}

/** Wire the settings panel; `onDeleted` runs once the account is deleted. */
export function initSettings(onDeleted) {
  $('settings-open').addEventListener('click', () => {
    $('members-panel').hidden = true;
    $('search-panel').hidden = true;
    $('settings-panel').hidden = false;
    renderSessions();
  });
  $('settings-close').addEventListener('click', () => {
    $('settings-panel').hidden = true;
  });
  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api.post('/v1/me/password', {
        current_password: f.get('current_password'),
        new_password: f.get('new_password'),
      });
      e.target.reset();
      toast('Password changed; other devices are logged out');
      renderSessions();
    } catch (err) {
      const why = {
        invalid_credentials: 'The current password is wrong',
        weak_password: 'The new password needs 8 to 256 characters',
      };
      toast(why[err.code] || err.message);
    }
  });
  $('delete-account-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api.call('DELETE', '/v1/me', { body: { password: f.get('password') } });
      e.target.reset();
      toast('Your account is deleted');
      onDeleted();
    } catch (err) {
      toast(err.code === 'invalid_credentials' ? 'The password is wrong' : err.message);
    }
  });
}
