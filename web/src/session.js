// The signed-in session: the token lives in memory and in sessionStorage
// (gone when the tab closes), never in localStorage or a cookie.

const KEY = 'nosana-secrets.session';
const listeners = new Set();
let current = null;
let timer;

/** fn(session|null, why) is called on every change. */
export function onChange(fn) { listeners.add(fn); }

export function get() { return current; }

function notify(why, detail) { for (const fn of listeners) fn(current, why, detail); }

/** Expiry (ms since epoch) from the token's exp claim; 0 when unreadable. */
export function expiryOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
  } catch {
    return 0;
  }
}

/** Starts a session with a token; why is 'signed-in' or 'restored'. */
export function start(token, address, wallet, why = 'signed-in') {
  const s = { token, address, wallet, expires: expiryOf(token) };
  if (!s.expires) throw new Error('The server sent a token without an expiry.');
  if (s.expires <= Date.now()) { end('expired'); return; }
  current = s;
  try { sessionStorage.setItem(KEY, JSON.stringify(s)); } catch { /* private mode: memory only */ }
  clearTimeout(timer);
  timer = setTimeout(() => end('expired'), Math.min(s.expires - Date.now(), 2 ** 31 - 1));
  notify(why);
}

/** Ends the session; why is 'signed-out', 'expired' or 'refused'. */
export function end(why, detail) {
  const had = current;
  current = null;
  clearTimeout(timer);
  try { sessionStorage.removeItem(KEY); } catch { /* nothing stored */ }
  if (had || why !== 'signed-out') notify(why, detail);
}

/** Picks up the session of this tab after a reload. */
export function restore() {
  let s;
  try { s = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { s = null; }
  if (!s || typeof s.token !== 'string') return;
  if (s.expires <= Date.now()) { end('expired'); return; }
  start(s.token, s.address, s.wallet, 'restored');
}
