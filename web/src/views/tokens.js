// Tokens: access tokens for CI and programs (issue 23). Create shows the
// token once, with a copy button; the list shows last use; revoke asks
// first. The token is kept in this module only until the dialog closes.
import * as api from '../api.js';
import { h, fill, say, when, modal, listNotice, loadInto, confirmAndRun } from '../dom.js';

const state = { items: null, error: null };
let listEl;

async function load() {
  await loadInto(state, 'items', api.tokens);
  renderList();
}

function access(write) { return write ? 'read-write' : 'read'; }

function render(main) {
  listEl = h('div', { id: 'token-list' });
  fill(main,
    h('div', { class: 'head' }, h('h1', null, 'Access tokens'),
      h('button', { type: 'button', class: 'primary', id: 'new-token', onclick: create }, 'New token')),
    h('p', { class: 'lead' }, 'An access token reads (and, if you allow it, writes) your secrets under a prefix, without your wallet. Give it to CI as ',
      h('code', null, 'NOSANA_SECRETS_TOKEN'), '. It cannot manage tokens, read history or the audit log.'),
    listEl);
  renderList();
  load(); // every visit: last use and expiry change
}

function renderList() {
  if (!listEl) return;
  const notice = listNotice(state.error, state.items, 'Could not list your tokens: ', ['no-tokens', 'You have no access tokens.']);
  if (notice) { fill(listEl, notice); return; }
  fill(listEl, h('table', { class: 'secrets tokens' },
    h('thead', null, h('tr', null, ['Name', 'Prefix', 'Access', 'Expires', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, state.items.map((t) => h('tr', { 'data-id': t.id },
      h('td', { 'data-label': 'Name' }, h('strong', null, t.name), t.subject ? h('div', { class: 'muted' }, t.subject) : null, h('div', { class: 'muted' }, h('code', null, t.id))),
      h('td', { 'data-label': 'Prefix' }, t.prefix ? h('code', null, t.prefix) : h('span', { class: 'muted' }, 'all keys')),
      h('td', { 'data-label': 'Access' }, access(t.write)),
      h('td', { 'data-label': 'Expires' }, when(t.expires_at)),
      h('td', { 'data-label': 'Last used' }, t.last_used_at ? when(t.last_used_at) : h('span', { class: 'muted' }, 'never')),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger', 'data-revoke': t.id, onclick: () => revoke(t) }, 'Revoke')))))));
}

async function create() {
  const made = await modal('New access token', (close) => {
    const name = h('input', { id: 'token-name', required: true, maxlength: 100, autocomplete: 'off' });
    const prefix = h('input', { id: 'token-prefix', autocomplete: 'off', spellcheck: 'false', placeholder: 'all keys' });
    const write = h('input', { id: 'token-write', type: 'checkbox' });
    const ttl = h('select', { id: 'token-ttl' }, [['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days'], ['365d', '1 year']]
      .map(([v, l]) => h('option', { value: v, selected: v === '30d' }, l)));
    const err = h('p', { class: 'field-error', role: 'alert', id: 'token-error' });
    const form = h('form', null,
      h('div', { class: 'field' }, h('label', { for: 'token-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'token-prefix' }, 'Prefix'), prefix),
      h('div', { class: 'field' }, h('label', { for: 'token-ttl' }, 'Expires after'), ttl),
      h('div', { class: 'field check' }, h('label', null, write, ' May also write and delete under the prefix')),
      err,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary', id: 'create-token' }, 'Create')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        close(await api.createToken({ name: name.value.trim(), prefix: prefix.value, write: write.checked, ttl: ttl.value }));
      } catch (ex) {
        err.textContent = ex.message;
      }
    });
    queueMicrotask(() => name.focus());
    return form;
  });
  if (!made) return;
  await modal('Your new token', (close) => {
    const copy = h('button', { type: 'button', class: 'primary', id: 'copy-token', onclick: async () => {
      try { await navigator.clipboard.writeText(made.token); say('Copied the token.'); } catch (e) { say('The browser did not allow copying: ' + e.message, 'error'); }
    } }, 'Copy');
    return h('div', null,
      h('p', null, 'Copy it now: it is shown only this once. The server keeps only its hash.'),
      h('pre', { class: 'code', id: 'new-token-value', tabindex: 0 }, made.token),
      h('p', { class: 'muted' }, `${access(made.write)} under ${made.prefix ? '"' + made.prefix + '"' : 'every key'}, until `, when(made.expires_at), '.'),
      h('div', { class: 'buttons' }, copy, h('button', { type: 'button', id: 'done-token', onclick: () => close(true) }, 'Done')));
  });
  say(`Created token ${made.name}.`);
  await load();
}

async function revoke(t) {
  const ask = ['Revoke ' + t.name + '?',
    'Programs using this token lose access within a second, on every server. This cannot be undone.',
    'Revoke', ['cancel-revoke', 'confirm-revoke']];
  if (await confirmAndRun(ask, () => api.revokeToken(t.id), `Revoked ${t.name}.`, 'Could not revoke: ')) await load();
}

function reset() {
  Object.assign(state, { items: null, error: null });
  listEl = null;
}

export default { id: 'tokens', title: 'Tokens', render, reset };
