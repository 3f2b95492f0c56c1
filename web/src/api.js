// The server's API as the console uses it. Every request goes to the
// console's own origin. Today this is the legacy API (SPEC §2); when the
// server offers the v1 routes (issue 11), list() moves to the paginated
// /v1/secrets and history, restore and audit get their calls here.
import * as session from './session.js';

/** Where the API is: the console is served at <base>/ui/. */
export const base = new URL('../', location.href);

export class ApiError extends Error {
  constructor(status, type, message, retryAfter) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

/**
 * Sends one request; body is a JSON string or undefined. Answers the raw
 * text of a success. A 403 with a token ends the session (expired or
 * refused token) before the error is thrown.
 */
async function call(method, path, body, auth = true) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let sent = null;
  if (auth) {
    sent = session.get();
    if (!sent) throw new ApiError(403, 'ForbiddenError', 'You are not signed in.');
    headers.Authorization = 'Bearer ' + sent.token;
  }
  let res;
  try {
    res = await fetch(new URL(path, base), {
      method, headers, body, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'NetworkError', 'The server did not answer. Check that it is running, then try again.');
  }
  const text = await res.text();
  if (res.ok) return text;
  let data = null;
  try { data = JSON.parse(text); } catch { /* not JSON: a proxy's page */ }
  let msg = (data && (data.message || data.error)) || `The server answered ${res.status} ${res.statusText}.`;
  const retry = Number(res.headers.get('Retry-After')) || 0;
  if (res.status === 429) msg = `Too many requests; try again in ${retry || 'a few'} seconds.`;
  if (res.status >= 500) msg = 'The server could not do this (' + res.status + '); try again later.';
  if (res.status === 403 && sent && session.get() === sent) session.end('refused', msg);
  throw new ApiError(res.status, data && data.type, msg, retry);
}

/** The settings of the console (sign-in audiences). */
export async function config() {
  return JSON.parse(await call('GET', 'ui/config.json', undefined, false));
}

/** POST /login with a signed message; answers the token. */
export async function login(address, signature, message) {
  const text = await call('POST', 'login', JSON.stringify({ address, signature, message }), false);
  return JSON.parse(text).token;
}

const enc = new TextEncoder();

/**
 * Every key of the namespace under prefix, sorted, without values: the
 * legacy listing carries values, so each is dropped as soon as its kind and
 * size are known.
 */
export async function list(prefix) {
  const q = prefix ? '?prefix=' + encodeURIComponent(prefix) : '';
  const all = JSON.parse(await call('GET', 'secrets' + q));
  const items = [];
  for (const key of Object.keys(all)) {
    const v = all[key];
    items.push({
      key,
      kind: typeof v === 'string' ? 'string' : 'JSON',
      size: typeof v === 'string' ? enc.encode(v).length : enc.encode(JSON.stringify(v)).length,
    });
    delete all[key];
  }
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return items;
}

/**
 * One value: {kind, text}. text is the string itself for a string value,
 * else the JSON exactly as the server stores it (numbers untouched).
 */
export async function get(key) {
  const raw = await call('GET', 'secrets/' + encodeURIComponent(key));
  const v = JSON.parse(raw);
  return typeof v === 'string' ? { kind: 'string', text: v } : { kind: 'JSON', text: raw };
}

/** Stores one value; json is JSON text already checked by the caller. */
export async function set(key, kind, text) {
  const value = kind === 'string' ? JSON.stringify(text) : text.trim();
  await call('POST', 'secrets', '{"secrets":{' + JSON.stringify(key) + ':' + value + '}}');
}

export async function remove(key) {
  await call('DELETE', 'secrets', JSON.stringify({ key }));
}
