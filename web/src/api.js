// The server's API as the console uses it. Every request goes to the
// console's own origin, through the v1 API (issue 11). A key is always
// sent in the query (keyURL), never as a path segment: a browser removes
// the segments "." and ".." (and their escapes %2E…) from every URL, so
// the key "." would address the listing.
import * as session from './session.js';

/** Where the API is: the console is served at <base>/ui/. */
export const base = new URL('../', location.href);

export class ApiError extends Error {
  constructor(status, type, message, retryAfter, data) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
    this.data = data || null; // the error body: code, and path and reason of invalid_job_definition
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
  throw new ApiError(res.status, data && data.type, msg, retry, data);
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

/**
 * Every key of the namespace under prefix, sorted, without values: the
 * pages of GET /v1/secrets carry metadata only ({key, version, size,
 * created_at, updated_at}).
 */
export async function list(prefix) {
  const items = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: '1000' });
    if (prefix) q.set('prefix', prefix);
    if (cursor) q.set('cursor', cursor);
    const page = JSON.parse(await call('GET', 'v1/secrets?' + q));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/**
 * The URL of one key's v1 route: /v1/secret[/versions|/restore]?key=K.
 * The one place the console puts a key in a URL.
 */
export function keyURL(key, sub = '') {
  return 'v1/secret' + sub + '?key=' + encodeURIComponent(key);
}

/**
 * The text of the member name of the JSON object text, exactly as it is
 * written there (JSON.parse would round big numbers). text is the server's
 * own compact JSON, so a scan that skips strings and nesting finds it.
 */
export function rawMember(text, name) {
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && start < 0 && text[j + 1] === ':' && JSON.parse(text.slice(i, j + 1)) === name) {
        start = j + 2;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']' || c === ',') {
      if (depth === 1 && start >= 0) return text.slice(start, i);
      if (c !== ',') depth--;
    }
  }
  throw new Error('The server\'s answer has no ' + name + '.');
}

/**
 * One value: {kind, text}. text is the string itself for a string value,
 * else the JSON as the server stores it (numbers untouched; the server's
 * JSON writes <, > and & in strings as \u003c, \u003e and \u0026, shown
 * here as the characters they are).
 */
export async function get(key) {
  const raw = rawMember(await call('GET', keyURL(key)), 'value');
  const v = JSON.parse(raw);
  if (typeof v === 'string') return { kind: 'string', text: v };
  return { kind: 'JSON', text: raw.replace(/\\u00(3c|3e|26)|\\\\/g, (m, hex) => (hex ? String.fromCharCode(parseInt(hex, 16)) : m)) };
}

/** Stores one value; json is JSON text already checked by the caller. */
export async function set(key, kind, text) {
  const value = kind === 'string' ? JSON.stringify(text) : text.trim();
  await call('PUT', keyURL(key), '{"value":' + value + '}');
}

/** Deletes a key softly: its versions stay, so it can be undeleted. */
export async function remove(key) {
  await call('DELETE', keyURL(key));
}

/** A key's versions, newest first: {version, created_at, deleted_at?, by}. */
export async function versions(key) {
  const list = JSON.parse(await call('GET', keyURL(key, '/versions'))).items;
  return list.sort((a, b) => b.version - a.version);
}

/** Makes a past version current again (also undeletes); answers the new version. */
export async function restore(key, version) {
  const r = await call('POST', keyURL(key, '/restore'), JSON.stringify({ version }));
  return JSON.parse(r).version;
}

/**
 * The owner's audit events, newest first, through every page (or the first
 * pages only); q holds since, until and key (each optional).
 */
export async function audit(q = {}, pages = Infinity) {
  const out = [];
  let cursor = null;
  do {
    const p = new URLSearchParams({ limit: '1000' });
    for (const [k, v] of Object.entries(q)) if (v) p.set(k, v);
    if (cursor) p.set('cursor', cursor);
    const page = JSON.parse(await call('GET', 'v1/audit?' + p));
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && --pages > 0);
  return out;
}

/** The URL of one job-definition template (a name is one path segment). */
function definitionURL(name) {
  return 'v1/job-definitions/' + encodeURIComponent(name);
}

/** The owner's job-definition templates: [{name, version, secrets, updated_at}]. */
export async function definitions() {
  return JSON.parse(await call('GET', 'v1/job-definitions')).items;
}

/** One template: {name, version, definition, secrets, placeholder, updated_at}. */
export async function definition(name) {
  return JSON.parse(await call('GET', definitionURL(name)));
}

/**
 * Stores text (a job definition, JSON) as the next version of name;
 * answers {name, version, secrets, placeholder}. A definition the node
 * would refuse is an ApiError whose data has code invalid_job_definition,
 * path and reason.
 */
export async function saveDefinition(name, text) {
  return JSON.parse(await call('PUT', definitionURL(name), text));
}

export async function removeDefinition(name) {
  await call('DELETE', definitionURL(name));
}

/**
 * The calls of one of the owner's collections at path (v1/tokens,
 * v1/trusts): list answers its items, create POSTs req and answers what
 * the server made, remove deletes the item id.
 */
function collection(path) {
  return {
    list: async () => JSON.parse(await call('GET', path)).items,
    create: async (req) => JSON.parse(await call('POST', path, JSON.stringify(req))),
    remove: async (id) => { await call('DELETE', path + '/' + encodeURIComponent(id)); },
  };
}

const tokenCalls = collection('v1/tokens');
/** The owner's access tokens (never their secret part). */
export const tokens = tokenCalls.list;
/** Mints an access token: {id, token, name, prefix, write, expires_at}; the token is shown once. */
export const createToken = tokenCalls.create;
/** Revokes the access token id. */
export const revokeToken = tokenCalls.remove;

const trustCalls = collection('v1/trusts');
/** The owner's OIDC trusts. */
export const trusts = trustCalls.list;
/** Creates a trust; answers it as stored. */
export const createTrust = trustCalls.create;
/** Deletes the trust id. */
export const deleteTrust = trustCalls.remove;
