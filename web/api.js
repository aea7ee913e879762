// The HTTP API and the live stream, as the client uses them. Every call sends
// the session token; every answer's position is remembered so that reads made
// after a write can ask for it (X-Min-Position, read-your-writes).

/** A failed call: the problem+json `code` and a human sentence. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

/** What a session keeps in localStorage (shared by the tabs). */
const KEYS = ['cotalk.token', 'cotalk.user', 'cotalk.refresh', 'cotalk.expires', 'cotalk.session'];

export class Api {
  constructor() {
    /** Highest position this client has seen (answers, frames). */
    this.position = 0;
    this.onUnauthenticated = () => {};
    /** Exchanges the refresh token for a new pair (set by session.js); true if it did. */
    this.refresh = async () => false;
  }

  // Read from storage on each use: another tab may have refreshed the pair.
  get token() {
    return localStorage.getItem('cotalk.token') || '';
  }
  get userId() {
    return localStorage.getItem('cotalk.user') || '';
  }
  get sessionId() {
    return localStorage.getItem('cotalk.session') || '';
  }

  /** Keep a login's (or a refresh's) answer. */
  saveSession(s) {
    localStorage.setItem('cotalk.token', s.token);
    localStorage.setItem('cotalk.user', s.user_id);
    localStorage.setItem('cotalk.refresh', s.refresh_token || '');
    localStorage.setItem('cotalk.expires', s.expires_at || '');
    localStorage.setItem('cotalk.session', s.session_id || '');
  }

  clearSession() {
    for (const k of KEYS) localStorage.removeItem(k);
  }

  seen(position) {
    if (Number.isFinite(position) && position > this.position) this.position = position;
  }

  /**
   * One call. `opts.body` is sent as JSON; `opts.min` asks the query side to
   * have applied that position first.
   */
  async call(method, path, opts = {}) {
    try {
      return await this.once(method, path, opts);
    } catch (err) {
      // An expired access token: refresh silently and try once more.
      if (err.status === 401 && !path.startsWith('/v1/sessions') && (await this.refresh())) {
        return this.once(method, path, opts);
      }
      if (err.status === 401 && !path.startsWith('/v1/sessions')) this.onUnauthenticated();
      throw err;
    }
  }

  async once(method, path, opts) {
    const headers = { Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.min) {
      headers['X-Min-Position'] = String(opts.min);
      headers['X-Max-Wait-Ms'] = '5000';
    }
    let res;
    for (let attempt = 0; ; attempt++) {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      // A lagging projection says when to come back; a few tries are enough.
      if (res.status === 503 && attempt < 3 && method === 'GET') {
        const after = Number(res.headers.get('Retry-After') || '1');
        await new Promise((r) => setTimeout(r, Math.min(after, 3) * 1000));
        continue;
      }
      break;
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    const pos = Number(res.headers.get('X-Position'));
    if (pos) this.seen(pos);
    if (data && typeof data.position === 'number') this.seen(data.position);
    if (!res.ok) {
      throw new ApiError(res.status, data && data.code, data && (data.detail || data.title));
    }
    return data;
  }

  get(path, opts) {
    return this.call('GET', path, opts);
  }
  post(path, body) {
    return this.call('POST', path, { body: body ?? {} });
  }
  patch(path, body) {
    return this.call('PATCH', path, { body });
  }
  put(path, body) {
    return this.call('PUT', path, body === undefined ? {} : { body });
  }
  del(path) {
    return this.call('DELETE', path);
  }
}

/** Close codes of GET /v1/stream that change how the client reconnects. */
const TOKEN_EXPIRED = 4001;
const SESSION_REVOKED = 4003;
const TOO_MANY_STREAMS = 4029;

/**
 * The live stream of frames. Reconnects with `after` = the last position it
 * delivered, so nothing is missed across a drop; `onFrame` gets each frame.
 * An expired token (close 4001, or a handshake refused before it opened)
 * is not retried as is: the session is checked, which refreshes the token
 * (or signs out when that fails). A revoked session (4003) signs out.
 * Over the per-user cap (4029: other tabs hold the streams) it retries
 * slowly, until one of them closes.
 */
export class Stream {
  constructor(api, onFrame, onState) {
    this.api = api;
    this.onFrame = onFrame;
    this.onState = onState || (() => {});
    this.after = 0;
    this.ws = null;
    this.stopped = true;
    this.backoff = 500;
  }

  start(after) {
    this.after = after;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  connect() {
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ token: this.api.token, after: String(this.after) });
    const ws = new WebSocket(`${proto}//${location.host}/v1/stream?${q}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.backoff = 500;
      this.onState('live');
    };
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      // A notification frame's position is not a resume point (it is
      // published by another projection than room frames).
      if (typeof frame.position === 'number' && frame.position > this.after && frame.type !== 'notification') {
        this.after = frame.position;
      }
      this.api.seen(frame.position);
      this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === SESSION_REVOKED) {
        // Logged out elsewhere: a refresh cannot bring this session back.
        this.api.onUnauthenticated();
        return;
      }
      if (ev.code === TOKEN_EXPIRED || !opened) {
        // A browser does not see why a handshake failed: ask the API. A 401
        // signs out (and stops this stream); anything else, retry.
        this.api.get('/v1/me').catch(() => {});
      }
      if (ev.code === TOO_MANY_STREAMS) {
        this.onState('refused');
        this.backoff = 30000;
      } else {
        this.onState('reconnecting');
      }
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, ev.code === TOO_MANY_STREAMS ? 60000 : 10000);
    };
  }
}
