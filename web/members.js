// The members panel of the open room: who is in it, adding someone by
// username, and (for the owner) removing a member.

import { el } from './dom.js';
import { decorateMember, mayKick } from './people.js';
import { $, api, nameOf, roomDetail, state, toast } from './session.js';

$('members-toggle').addEventListener('click', () => {
  const panel = $('members-panel');
  panel.hidden = !panel.hidden;
  if (!panel.hidden) {
    $('search-panel').hidden = true;
    renderMembers(true);
  }
});

export async function renderMembers(fresh) {
  const roomId = state.current;
  if (!roomId) return;
  let d;
  try {
    d = await roomDetail(roomId, fresh);
  } catch (e) {
    toast(e.message);
    return;
  }
  if (state.current !== roomId) return;
  const items = d.members.map((m) => {
    const li = el('li', 'member');
    li.dataset.userId = m.user_id;
    const name = el('span', 'name', '…');
    nameOf(m.user_id).then((n) => {
      name.textContent = n;
    });
    li.append(name, el('span', 'role', m.role === 'member' ? '' : m.role));
    decorateMember(li, m, d);
    if (mayKick(m, d)) {
      const kick = el('button', 'ghost danger kick', 'Remove');
      kick.type = 'button';
      kick.addEventListener('click', async () => {
        try {
          await api.del(`/v1/rooms/${roomId}/members/${m.user_id}`);
          renderMembers(true);
        } catch (e) {
          toast(e.message);
        }
      });
      li.append(kick);
    }
    return li;
  });
  $('members').replaceChildren(...items);
}

$('add-member-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const u = await api.get(`/v1/users?username=${encodeURIComponent(f.get('username').trim())}`);
    await api.post(`/v1/rooms/${state.current}/members`, { user_id: u.user_id });
    e.target.reset();
    renderMembers(true);
  } catch (err) {
    toast(err.code === 'user_not_found' ? 'No such user' : err.message);
  }
});
