// The operator page: polls GET /ops/status every second with the admin
// token (from the address's #token=… or typed once, kept for this tab) and
// shows the log head, the append rate, group-commit sizes and every
// projection's state. It has nothing to click: changes go through the CLI.

import { el } from './dom.js';

const $ = (id) => document.getElementById(id);
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('cotalk.admin', fromHash);
  history.replaceState(null, '', location.pathname);
}
let token = sessionStorage.getItem('cotalk.admin') || '';
const rates = [];

const fmt = (v, digits = 0) =>
  v === null || v === undefined ? '–' : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });

function askToken(message) {
  $('ops-view').hidden = true;
  $('token-form').hidden = false;
  $('ops-error').textContent = message;
  $('token-input').focus();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token-input').value.trim();
  sessionStorage.setItem('cotalk.admin', token);
  $('token-form').hidden = true;
  $('ops-error').textContent = '';
  poll();
});

// Which node runs a leased task: the session holding its lease; '–' when
// the task is not leased (each query node runs its own search).
function activeOn(lease) {
  if (!lease) return '–';
  if (lease.holder) return lease.holder;
  return lease.reason ? 'unknown' : 'none';
}

function row(name, s, rebuild) {
  const tr = el('tr');
  tr.dataset.name = name;
  const state = el('span', `state ${s.state}`, String(s.state).replace('_', ' '));
  const cells = [
    el('td', 'name', name),
    el('td'),
    el('td', 'generation', fmt(s.generation)),
    el('td', 'position', fmt(s.checkpoint)),
    el('td', 'lag-events', fmt(s.lag && s.lag.events)),
    el('td', 'lag-seconds', fmt(s.lag && s.lag.seconds, 1)),
    el('td', 'rebuild', rebuild),
    el('td', 'lease', activeOn(s.lease)),
    el('td', 'store', s.reason ? `${s.store || ''} — ${s.reason}` : s.store || ''),
  ];
  cells[1].append(state);
  tr.append(...cells);
  return tr;
}

function render(r) {
  $('head').textContent = fmt(r.head && r.head.position);
  const a = r.appends;
  $('rate').textContent = fmt(a.rate_per_sec, 1);
  $('batches').textContent = fmt(a.batches_per_sec, 1);
  const q = Object.fromEntries(a.batch_events_quantiles || []);
  $('batch-size').textContent =
    a.mean_batch_events === null && !a.max_batch_events
      ? 'not on this node'
      : `${fmt(a.mean_batch_events, 1)} · ${fmt(q['0.5'])} · ${fmt(q['0.99'])} · ${fmt(a.max_batch_events)}`;
  rates.push(a.rate_per_sec || 0);
  if (rates.length > 60) rates.shift();
  const top = Math.max(1, ...rates);
  const points = rates.map((v, i) => `${(i * 180) / 59},${34 - (v / top) * 32}`).join(' ');
  $('rate-chart').querySelector('polyline').setAttribute('points', points);
  const rows = [row('relay', r.relay, '')];
  for (const p of r.projections) {
    const rb = p.rebuild
      ? `g${p.rebuild.generation ?? '?'} at ${fmt(p.rebuild.checkpoint)}${p.rebuild.running ? ' (running)' : ''}`
      : '';
    rows.push(row(p.name, p, rb));
  }
  $('rows').replaceChildren(...rows);
  $('updated').textContent = `namespace ${r.namespace} · updated ${new Date(r.at).toLocaleTimeString()}`;
  $('ops-view').hidden = false;
}

async function poll() {
  if (!token) {
    askToken('This page needs the admin token (printed by make run, or in the data directory\'s ops/token_secret).');
    return;
  }
  try {
    const res = await fetch('/ops/status', { headers: { Authorization: `Bearer ${token}` } });
    if (res.status === 401) {
      sessionStorage.removeItem('cotalk.admin');
      token = '';
      askToken('That admin token was refused.');
      return;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
    $('ops-error').textContent = '';
  } catch (e) {
    $('ops-error').textContent = `Status unavailable: ${e.message}`;
  }
  setTimeout(poll, 1000);
}

poll();
