// Audit: the owner's events (newest first), filtered by key and time on the
// server and by action in the page; a node's reads show node, job and time.
// "Verify" fetches the whole log and the server's public signing keys, and
// checks here (chain.js) the hash chain and the signature that vouches for
// it, so a store edited by someone without the master key does not pass.
import * as api from '../api.js';
import * as session from '../session.js';
import { verifySigned, actionList } from '../chain.js';
import { h, fill, say, shortAddress, when, listNotice, pageOf, pager } from '../dom.js';

const PAGE = 100;

const state = { key: '', action: '', since: '', until: '', page: 0, events: null, error: null, check: null };
let listEl, countEl, pagerEl, chainEl;
let loadSeq = 0;

// iso turns a datetime-local value (the reader's time) into RFC 3339.
function iso(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}

async function load() {
  const seq = ++loadSeq;
  state.error = null;
  state.events = null;
  renderList();
  try {
    const events = await api.audit({ key: state.key, since: iso(state.since), until: iso(state.until) });
    if (seq !== loadSeq) return;
    state.events = events;
  } catch (e) {
    if (seq !== loadSeq) return;
    state.error = e.message;
  }
  renderList();
}

function shown() {
  const all = state.events || [];
  return state.action ? all.filter((e) => e.action === state.action) : all;
}

function render(main) {
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const key = h('input', { id: 'audit-key', type: 'text', value: state.key, autocomplete: 'off', spellcheck: 'false', placeholder: 'exact key' });
  const action = h('select', { id: 'audit-action' },
    h('option', { value: '' }, 'Any action'), actionList.map((a) => h('option', { value: a }, a)));
  action.value = state.action;
  const since = h('input', { id: 'audit-since', type: 'datetime-local', step: 1, value: state.since });
  const until = h('input', { id: 'audit-until', type: 'datetime-local', step: 1, value: state.until });
  action.addEventListener('change', () => { state.action = action.value; state.page = 0; renderList(); });
  const form = h('form', { class: 'filters audit-filters', role: 'search' },
    field('audit-key', 'Key', key), field('audit-action', 'Action', action),
    field('audit-since', 'From', since), field('audit-until', 'Before', until),
    h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'primary', id: 'audit-apply' }, 'Show')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    Object.assign(state, { key: key.value, action: action.value, since: since.value, until: until.value, page: 0 });
    load();
  });
  listEl = h('div', { class: 'list', id: 'audit-list' });
  countEl = h('p', { class: 'count', id: 'audit-count', 'aria-live': 'polite' });
  pagerEl = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  chainEl = h('div', { class: 'chain card', id: 'chain', 'aria-live': 'polite' });
  fill(main,
    h('div', { class: 'head' },
      h('h1', null, 'Audit'),
      h('button', { type: 'button', id: 'verify', onclick: check }, 'Verify the log')),
    chainEl, form, countEl, listEl, pagerEl);
  renderChain();
  renderList();
  if (!state.events && !state.error) load();
}

// who names the actor: the owner as "you", anyone else as a node, with the
// job; the server itself (trims, rekeys) has no actor, nor has a refused
// node route call whose header the job's node did not sign.
function who(e) {
  const s = session.get();
  if (!e.actor && e.job) return h('span', null, h('span', { class: 'muted' }, 'unknown caller'), ' · job ', h('code', { class: 'job', title: e.job }, shortAddress(e.job)));
  if (!e.actor) return h('span', { class: 'muted' }, 'server');
  const mine = s && e.actor === s.address;
  return h('span', { title: e.actor },
    mine ? 'you' : h('span', null, 'node ', h('code', { class: 'node' }, shortAddress(e.actor))),
    e.job ? h('span', null, ' · job ', h('code', { class: 'job', title: e.job }, shortAddress(e.job))) : null);
}

function event(e) {
  return h('tr', { 'data-seq': e.seq, 'data-action': e.action },
    h('th', { scope: 'row', 'data-label': 'Time' }, when(e.time)),
    h('td', { 'data-label': 'Action' }, e.action, e.count > 1 ? h('span', { class: 'muted' }, ` ×${e.count}`) : null),
    h('td', { 'data-label': 'Keys', class: 'keys' }, e.action === 'trim' ? `events before ${e.trimmed.first_seq} removed`
      : e.action === 'rekey' ? `retired signing keys vouched: ${(e.vouch || []).map((v) => v.split(':')[0]).join(', ')}`
        : e.action === 'adopt' ? `events before ${e.seq} adopted, unsigned, from before the server signed`
        : e.action === 'break' ? `the server did not sign event ${e.seq - 1}: the log was edited in the store`
        : e.keys.length ? e.keys.map((k, i) => [i ? ', ' : '', h('code', null, k)]) : '—'),
    h('td', { 'data-label': 'By', class: 'by' }, who(e)),
    h('td', { 'data-label': 'Status' }, String(e.status)));
}

function renderList() {
  if (!listEl) return;
  const notice = listNotice(state.error, state.events, 'Could not read the audit log: ');
  if (notice) {
    if (state.error) { fill(countEl); fill(pagerEl); }
    fill(listEl, notice);
    return;
  }
  const items = shown();
  const { pages, from, page } = pageOf(items, state, PAGE);
  fill(countEl, items.length ? `${from + 1}–${from + page.length} of ${items.length.toLocaleString('en')} events` : '');
  fill(listEl, items.length === 0 ? h('p', { class: 'empty' }, 'No event matches.')
    : h('table', { class: 'secrets audit', id: 'events' },
      h('caption', { class: 'sr' }, 'Audit events, newest first'),
      h('thead', null, h('tr', null, ['Time', 'Action', 'Keys', 'By', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, page.map(event))));
  pager(pagerEl, state.page, pages, ['← Newer', 'Older →'], (by) => { state.page += by; renderList(); });
}

function renderChain() {
  if (!chainEl) return;
  const c = state.check;
  if (!c) {
    fill(chainEl, h('p', { class: 'muted' }, 'Each event carries the hash of the one before it, and the server signs the newest with a key derived from its master key. Verify fetches the whole log and the server\'s public keys, and checks every hash and the signature in this browser; note the head hash to tell later whether the log was rewritten.'));
  } else if (c.busy) {
    fill(chainEl, h('p', { class: 'muted' }, 'Checking the chain…'));
  } else if (c.error) {
    fill(chainEl, h('p', { class: 'broken', id: 'chain-result', role: 'alert' }, 'Could not verify: ' + c.error));
  } else if (c.ok) {
    fill(chainEl,
      h('p', { class: 'verified', id: 'chain-result' }, `Verified: ${c.count.toLocaleString('en')} events, the chain is intact.`),
      c.vouched ? h('p', { id: 'chain-signed' }, 'Signed by the server up to event ', h('strong', null, String(c.vouched)),
        ', key ', h('code', { id: 'sig-key' }, c.sigKey), '.') : null,
      c.adopted ? h('p', { id: 'chain-adopted' }, `Events before ${c.adopted} were written before the server signed its log; it adopted them as the store held them then, and vouches for no more.`) : null,
      h('p', null, 'Head: event ', h('strong', { id: 'head-seq' }, String(c.head.seq)), ', hash ', h('code', { id: 'head-hash' }, c.head.hash || '(empty log)')));
  } else {
    fill(chainEl, h('p', { class: 'broken', id: 'chain-result', role: 'alert' }, `The log does not verify at event ${c.seq}: ${c.reason}.`));
  }
}

async function check() {
  state.check = { busy: true };
  renderChain();
  try {
    const [all, keys] = await Promise.all([api.audit({}).then((l) => l.reverse()), signingKeys()]);
    const r = await verifySigned(all, session.get().address, keys);
    state.check = { ...r, count: all.length };
    if (r.ok) say('The audit log verifies.');
  } catch (e) {
    state.check = { error: e.message };
  }
  renderChain();
}

// signingKeys are the server's public audit signing keys (GET
// /v1/audit/key, which needs no token).
async function signingKeys() {
  let res;
  try {
    res = await fetch(new URL('v1/audit/key', api.base), { headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
  } catch {
    throw new Error('the server did not answer');
  }
  if (!res.ok) throw new Error(`the server publishes no audit signing key (${res.status}), so nothing vouches for the log`);
  const body = await res.json();
  return Array.isArray(body.keys) ? body.keys : [];
}

/** Forgets the events and the check: the session changed. */
function reset() {
  Object.assign(state, { key: '', action: '', since: '', until: '', page: 0, events: null, error: null, check: null });
  loadSeq++;
  listEl = chainEl = null;
}

export default { id: 'audit', title: 'Audit', render, reset };
