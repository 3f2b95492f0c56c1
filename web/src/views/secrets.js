// Secrets: list (prefix filter on the server, search in the page, sorted,
// paginated), reveal, copy, add, edit, delete (soft), a key's history with
// restore of any version, and the recently deleted keys with undelete.
import * as api from '../api.js';
import { h, fill, say, bytes, modal, shortAddress, when, listNotice, confirmDanger, pageOf, pager } from '../dom.js';

const PAGE = 50;
const REVEAL_MS = 15000;

const state = { prefix: '', search: '', desc: false, page: 0, items: null, error: null, deleted: null };
const revealed = new Map(); // key → {text, timer}
let listEl, countEl, pagerEl, deletedEl;
let loadSeq = 0;

async function load() {
  const seq = ++loadSeq;
  state.error = null;
  try {
    const items = await api.list(state.prefix);
    if (seq !== loadSeq) return;
    state.items = items;
    if (state.deleted) state.deleted = state.deleted.filter((k) => !items.some((i) => i.key === k));
  } catch (e) {
    if (seq !== loadSeq) return;
    state.items = null;
    state.error = e.message;
  }
  renderList();
}

function visible() {
  const q = state.search.toLowerCase();
  let items = state.items || [];
  if (q) items = items.filter((i) => i.key.toLowerCase().includes(q));
  return state.desc ? items.slice().reverse() : items;
}

function render(main) {
  const prefix = h('input', { id: 'prefix', type: 'text', value: state.prefix, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. prod/' });
  const search = h('input', { id: 'search', type: 'search', value: state.search, autocomplete: 'off', spellcheck: 'false', placeholder: 'part of a key  ( / )' });
  let t;
  prefix.addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(() => { state.prefix = prefix.value; state.page = 0; load(); }, 250);
  });
  search.addEventListener('input', () => { state.search = search.value; state.page = 0; renderList(); });
  listEl = h('div', { class: 'list', id: 'secret-list' });
  countEl = h('p', { class: 'count', id: 'count', 'aria-live': 'polite' });
  pagerEl = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  deletedEl = h('section', { class: 'deleted', id: 'deleted', 'aria-labelledby': 'deleted-title' });
  fill(main,
    h('div', { class: 'head' },
      h('h1', null, 'Secrets'),
      h('button', { type: 'button', class: 'primary', id: 'add', onclick: () => edit(null) }, 'Add secret')),
    h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field' }, h('label', { for: 'prefix' }, 'Prefix'), prefix),
      h('div', { class: 'field' }, h('label', { for: 'search' }, 'Search'), search),
      h('div', { class: 'field actions' },
        h('button', { type: 'button', id: 'sort', 'aria-label': 'Sort order', onclick: () => { state.desc = !state.desc; state.page = 0; renderList(); } },
          state.desc ? 'Z → A' : 'A → Z'),
        h('button', { type: 'button', id: 'reload', onclick: () => load() }, 'Reload'))),
    countEl, listEl, pagerEl, deletedEl);
  renderList();
  renderDeleted();
  if (!state.items) load();
}

function renderList() {
  if (!listEl) return;
  const sort = document.getElementById('sort');
  if (sort) sort.textContent = state.desc ? 'Z → A' : 'A → Z';
  const notice = listNotice(state.error, state.items, 'Could not list your secrets: ');
  if (notice) {
    if (state.error) { fill(countEl); fill(pagerEl); }
    fill(listEl, notice);
    return;
  }
  const items = visible();
  const { pages, from, page: shown } = pageOf(items, state, PAGE);
  const total = state.items.length;
  fill(countEl, items.length === 0 ? '' :
    `${from + 1}–${from + shown.length} of ${items.length.toLocaleString('en')}` +
    (items.length !== total ? ` matching (${total.toLocaleString('en')} in all)` : '') + (total === 1 ? ' secret' : ' secrets'));
  if (total === 0) {
    fill(listEl, h('div', { class: 'empty' },
      h('p', null, state.prefix ? `No secret starts with “${state.prefix}”.` : 'You have no secrets yet.'),
      h('p', null, h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, 'Add your first secret'))));
  } else if (items.length === 0) {
    fill(listEl, h('p', { class: 'empty' }, `No key contains “${state.search}”.`));
  } else {
    fill(listEl, h('table', { class: 'secrets' },
      h('caption', { class: 'sr' }, 'Your secrets'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Version'),
        h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Updated'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
      h('tbody', null, shown.map(row))));
  }
  pager(pagerEl, state.page, pages, ['← Previous', 'Next →'], turn, ['prev', 'page', 'next']);
}

// turn goes to the previous or next page and brings its top into view.
function turn(by) {
  state.page += by;
  renderList();
  countEl.scrollIntoView({ block: 'start' });
}

function row(item) {
  const r = revealed.get(item.key);
  const value = r
    ? h('pre', { class: 'value', 'aria-label': 'Value of ' + item.key }, r.text)
    : h('span', { class: 'masked', 'aria-label': 'Value hidden' }, '••••••••');
  return h('tr', { 'data-key': item.key },
    h('th', { scope: 'row', class: 'key' }, h('code', null, item.key)),
    h('td', { 'data-label': 'Version' }, String(item.version)),
    h('td', { 'data-label': 'Size' }, bytes(item.size)),
    h('td', { 'data-label': 'Updated' }, when(item.updated_at)),
    h('td', { class: 'val', 'data-label': 'Value' }, value),
    h('td', { class: 'acts' },
      h('button', { type: 'button', class: 'reveal', 'aria-pressed': r ? 'true' : 'false', 'aria-label': (r ? 'Hide ' : 'Reveal ') + item.key, onclick: () => toggle(item.key) }, r ? 'Hide' : 'Reveal'),
      h('button', { type: 'button', class: 'copy', 'aria-label': 'Copy ' + item.key, onclick: () => copy(item.key) }, 'Copy'),
      h('button', { type: 'button', class: 'edit', 'aria-label': 'Edit ' + item.key, onclick: () => edit(item.key) }, 'Edit'),
      h('button', { type: 'button', class: 'history', 'aria-label': 'History of ' + item.key, onclick: () => history(item.key) }, 'History'),
      h('button', { type: 'button', class: 'delete danger', 'aria-label': 'Delete ' + item.key, onclick: () => remove(item.key) }, 'Delete')));
}

function hide(key) {
  const r = revealed.get(key);
  if (r) clearTimeout(r.timer);
  revealed.delete(key);
}

async function toggle(key) {
  if (revealed.has(key)) { hide(key); renderList(); return; }
  try {
    const v = await api.get(key);
    hide(key);
    revealed.set(key, { text: v.text, timer: setTimeout(() => { revealed.delete(key); renderList(); }, REVEAL_MS) });
    renderList();
    say(`Showing ${key} for ${REVEAL_MS / 1000} seconds.`);
  } catch (e) {
    say(e.message, 'error');
  }
}

async function copy(key) {
  try {
    const v = await api.get(key);
    await navigator.clipboard.writeText(v.text);
    say(`Copied ${key} to the clipboard.`);
  } catch (e) {
    say(e instanceof api.ApiError ? e.message : 'The browser did not allow copying: ' + e.message, 'error');
  }
}

/** Checks an editor's value: JSON must parse. Answers an error or null. */
function invalid(kind, text) {
  if (kind !== 'JSON') return null;
  try { JSON.parse(text); return null; } catch (e) { return 'Not valid JSON: ' + e.message; }
}

async function edit(key) {
  let current = { kind: 'string', text: '' };
  if (key !== null) {
    try { current = await api.get(key); } catch (e) { say(e.message, 'error'); return; }
  }
  const saved = await modal(key === null ? 'Add a secret' : 'Edit ' + key, (close) => {
    const keyIn = h('input', { id: 'edit-key', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', value: key || '', readonly: key !== null, 'aria-describedby': 'edit-key-help' });
    const valueIn = h('textarea', { id: 'edit-value', rows: 6, spellcheck: 'false', 'aria-describedby': 'edit-error' });
    valueIn.value = current.text;
    const err = h('p', { id: 'edit-error', class: 'field-error', 'aria-live': 'assertive' });
    const kindIn = (k) => h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'kind', value: k, id: 'kind-' + k.toLowerCase(), checked: current.kind === k }), k === 'string' ? 'String' : 'JSON');
    const save = h('button', { type: 'submit', class: 'primary', id: 'save' }, 'Save');
    const form = h('form', { class: 'editor', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'edit-key' }, 'Key'), keyIn,
        h('p', { class: 'help', id: 'edit-key-help' }, key === null ? 'Any text; / and : are fine (e.g. prod/db-password).' : 'To rename, add a new secret and delete this one.')),
      h('fieldset', { class: 'kinds' }, h('legend', null, 'Type'), kindIn('string'), kindIn('JSON')),
      h('div', { class: 'field' }, h('label', { for: 'edit-value' }, 'Value'), valueIn, err),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'), save));
    const kind = () => form.querySelector('input[name=kind]:checked').value;
    const check = () => { err.textContent = invalid(kind(), valueIn.value) || ''; return !err.textContent; };
    valueIn.addEventListener('input', () => { if (err.textContent) check(); });
    form.addEventListener('change', (e) => { if (e.target.name === 'kind') check(); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const k = keyIn.value;
      if (!k) { err.textContent = 'Give the secret a key.'; keyIn.focus(); return; }
      if (!check()) { valueIn.focus(); return; }
      if (key === null && state.items && state.items.some((i) => i.key === k) && !form.dataset.overwrite) {
        err.textContent = `${k} exists already. Save again to overwrite it.`;
        form.dataset.overwrite = 'yes';
        return;
      }
      save.disabled = true;
      try {
        await api.set(k, kind(), valueIn.value);
        close(k);
      } catch (ex) {
        err.textContent = ex.message;
        save.disabled = false;
      }
    });
    queueMicrotask(() => (key === null ? keyIn : valueIn).focus());
    return form;
  });
  if (saved !== null) {
    hide(saved);
    say(`Saved ${saved}.`);
    await load();
  }
}

async function remove(key) {
  const yes = await confirmDanger('Delete ' + key + '?',
    ['Jobs that ask for ', h('code', null, key), ' will not get it. Its versions are kept: undelete it from “Recently deleted” below.'],
    'Delete', ['cancel-delete', 'confirm-delete']);
  if (!yes) return;
  try {
    await api.remove(key);
    hide(key);
    say(`Deleted ${key}.`);
    if (state.deleted && !state.deleted.includes(key)) state.deleted.unshift(key);
    await load();
    renderDeleted();
  } catch (e) {
    say(e.message, 'error');
  }
}

/** The writer of a version: a short address, and the job when a node wrote it. */
function writer(by) {
  return h('span', { title: by.address }, shortAddress(by.address), by.job ? h('span', { class: 'muted' }, ' job ', shortAddress(by.job)) : null);
}

// history shows a key's versions; any kept value can be made current again.
async function history(key) {
  let list;
  try { list = await api.versions(key); } catch (e) { say(e.message, 'error'); return; }
  const current = list.find((v) => !v.deleted_at);
  const live = list.length && !list[0].deleted_at;
  const chosen = await modal('History of ' + key, (close) => h('div', null,
    h('p', { class: 'help' }, live ? 'Restoring a version writes its value as a new version; nothing is lost.' : 'This key is deleted: restore a version to bring it back.'),
    h('div', { class: 'scroll' }, h('table', { class: 'secrets versions', id: 'versions' },
      h('caption', { class: 'sr' }, 'Versions of ' + key),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Written'),
        h('th', { scope: 'col' }, 'By'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
      h('tbody', null, list.map((v) => h('tr', { 'data-version': v.version },
        h('th', { scope: 'row' }, String(v.version)),
        h('td', { 'data-label': 'Written' }, when(v.created_at)),
        h('td', { 'data-label': 'By' }, writer(v.by)),
        h('td', { class: 'acts' }, v.deleted_at ? h('span', { class: 'tag' }, 'deleted')
          : live && v === current ? h('span', { class: 'tag ok' }, 'current')
            : h('button', { type: 'button', class: 'restore', 'aria-label': `Restore version ${v.version} of ${key}`, onclick: () => close(v.version) }, 'Restore'))))))),
    h('div', { class: 'buttons' }, h('button', { type: 'button', id: 'close-history', onclick: () => close(null), autofocus: true }, 'Close'))));
  if (chosen === null) return;
  await restoreTo(key, chosen);
}

async function restoreTo(key, version) {
  try {
    const v = await api.restore(key, version);
    hide(key);
    say(`Restored ${key} to version ${version} (now version ${v}).`);
    if (state.deleted) state.deleted = state.deleted.filter((k) => k !== key);
    await load();
    renderDeleted();
  } catch (e) {
    say(e.message, 'error');
  }
}

// findDeleted looks through the newest 1000 audit events for deleted keys
// that are still deleted: the listing has only live keys.
async function findDeleted() {
  state.deleted = [];
  renderDeleted('Looking for deleted keys…');
  try {
    const events = await api.audit({}, 1);
    const seen = new Set((state.items || []).map((i) => i.key));
    const cands = [];
    for (const e of events) {
      if (e.action !== 'delete' && e.action !== 'restore') continue;
      for (const k of e.keys) if (!seen.has(k)) { seen.add(k); cands.push(k); }
    }
    const out = [];
    for (const k of cands.slice(0, 100)) {
      try {
        const vs = await api.versions(k);
        if (vs.length && vs[0].deleted_at && vs.some((v) => !v.deleted_at)) out.push(k);
      } catch { /* destroyed for good: nothing to undelete */ }
    }
    state.deleted = out;
    renderDeleted();
  } catch (e) {
    state.deleted = null;
    renderDeleted('Could not look for deleted keys: ' + e.message);
  }
}

async function undelete(key) {
  let vs;
  try { vs = await api.versions(key); } catch (e) { say(e.message, 'error'); return; }
  const last = vs.find((v) => !v.deleted_at);
  if (!last) { say(`${key} has no version to bring back.`, 'error'); return; }
  await restoreTo(key, last.version);
}

function renderDeleted(msg) {
  if (!deletedEl) return;
  const title = h('h2', { id: 'deleted-title' }, 'Recently deleted');
  if (msg) { fill(deletedEl, title, h('p', { class: 'muted' }, msg)); return; }
  if (!state.deleted) {
    fill(deletedEl, title, h('p', null, h('button', { type: 'button', id: 'show-deleted', onclick: findDeleted }, 'Show deleted keys')));
    return;
  }
  fill(deletedEl, title, state.deleted.length === 0 ? h('p', { class: 'muted', id: 'no-deleted' }, 'No deleted key to bring back.')
    : h('ul', { class: 'deleted-keys' }, state.deleted.map((k) => h('li', { 'data-deleted': k },
      h('code', null, k),
      h('button', { type: 'button', class: 'history', 'aria-label': 'History of ' + k, onclick: () => history(k) }, 'History'),
      h('button', { type: 'button', class: 'undelete primary', 'aria-label': 'Undelete ' + k, onclick: () => undelete(k) }, 'Undelete')))));
}

/** Forgets what was listed or revealed: the session changed. */
function reset() {
  for (const k of [...revealed.keys()]) hide(k);
  Object.assign(state, { prefix: '', search: '', desc: false, page: 0, items: null, error: null, deleted: null });
  loadSeq++;
  listEl = deletedEl = null;
}

export default { id: 'secrets', title: 'Secrets', render, reset };
