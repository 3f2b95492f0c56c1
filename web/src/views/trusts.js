// Trusts: let GitHub Actions workflows (or another OIDC issuer the server
// lists) sign in with their own OIDC token, storing no secret (issue 23).
import * as api from '../api.js';
import { h, fill, say, when, modal, listNotice, loadInto, confirmAndRun } from '../dom.js';

const GITHUB = 'https://token.actions.githubusercontent.com';
const state = { items: null, error: null };
let listEl;

async function load() {
  await loadInto(state, 'items', api.trusts);
  renderList();
}

function claims(c) {
  return Object.keys(c).sort().map((k) => h('div', null, h('code', null, k + ' = ' + c[k])));
}

function render(main) {
  listEl = h('div', { id: 'trust-list' });
  fill(main,
    h('div', { class: 'head' }, h('h1', null, 'Trusts'),
      h('button', { type: 'button', class: 'primary', id: 'new-trust', onclick: create }, 'Trust a GitHub repository')),
    h('p', { class: 'lead' }, 'A workflow of a trusted repository runs ', h('code', null, 'nosana-secrets login --oidc'),
      ' and gets a short-lived access token: nothing secret is stored in the repository. Claims are compared exactly.'),
    listEl);
  renderList();
  load(); // every visit: last use and expiry change
}

function renderList() {
  if (!listEl) return;
  const notice = listNotice(state.error, state.items, 'Could not list your trusts: ', ['no-trusts', 'You trust no repository yet.']);
  if (notice) { fill(listEl, notice); return; }
  fill(listEl, h('table', { class: 'secrets trusts' },
    h('thead', null, h('tr', null, ['Name', 'Claims', 'Prefix', 'Access', 'Token life', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, state.items.map((t) => h('tr', { 'data-id': t.id },
      h('td', { 'data-label': 'Name' }, h('strong', null, t.name), t.issuer !== GITHUB ? h('div', { class: 'muted' }, t.issuer) : null),
      h('td', { 'data-label': 'Claims' }, claims(t.claims)),
      h('td', { 'data-label': 'Prefix' }, t.prefix ? h('code', null, t.prefix) : h('span', { class: 'muted' }, 'all keys')),
      h('td', { 'data-label': 'Access' }, t.write ? 'read-write' : 'read'),
      h('td', { 'data-label': 'Token life' }, t.ttl),
      h('td', { 'data-label': 'Created' }, when(t.created_at)),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'danger', 'data-delete': t.id, onclick: () => remove(t) }, 'Delete')))))));
}

async function create() {
  const made = await modal('Trust a GitHub repository', (close) => {
    const input = (id, attrs = {}) => h('input', { id, autocomplete: 'off', spellcheck: 'false', ...attrs });
    const repo = input('trust-repo', { required: true, placeholder: 'org/repo' });
    const ref = input('trust-ref', { placeholder: 'refs/heads/main (any ref when empty)' });
    const env = input('trust-environment', { placeholder: 'any environment when empty' });
    const prefix = input('trust-prefix', { placeholder: 'all keys' });
    const write = h('input', { id: 'trust-write', type: 'checkbox' });
    const ttl = h('select', { id: 'trust-ttl' }, ['5m', '15m', '30m', '1h'].map((v) => h('option', { value: v, selected: v === '15m' }, v)));
    const err = h('p', { class: 'field-error', role: 'alert', id: 'trust-error' });
    const field = (id, label, el) => h('div', { class: 'field' }, h('label', { for: id }, label), el);
    const form = h('form', null,
      field('trust-repo', 'Repository', repo), field('trust-ref', 'Git ref', ref),
      field('trust-environment', 'Environment', env), field('trust-prefix', 'Prefix', prefix),
      field('trust-ttl', 'Token life', ttl),
      h('div', { class: 'field check' }, h('label', null, write, ' Tokens may also write and delete under the prefix')),
      err,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary', id: 'create-trust' }, 'Trust')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const c = { repository: repo.value.trim() };
      if (!/^[^/\s]+\/[^/\s]+$/.test(c.repository)) { err.textContent = 'Name the repository as owner/name.'; return; }
      if (ref.value.trim()) c.ref = ref.value.trim();
      if (env.value.trim()) c.environment = env.value.trim();
      try {
        close(await api.createTrust({ name: 'github:' + c.repository, issuer: GITHUB, claims: c, prefix: prefix.value, write: write.checked, ttl: ttl.value }));
      } catch (ex) {
        err.textContent = ex.message;
      }
    });
    queueMicrotask(() => repo.focus());
    return form;
  });
  if (!made) return;
  say(`Trusted ${made.claims.repository}.`);
  await load();
}

async function remove(t) {
  const ask = ['Delete ' + t.name + '?',
    'Workflows can no longer sign in through this trust. Tokens they already have live out their life (revoke them under Tokens).',
    'Delete', ['cancel-trust-delete', 'confirm-trust-delete']];
  if (await confirmAndRun(ask, () => api.deleteTrust(t.id), `Deleted ${t.name}.`, 'Could not delete: ')) await load();
}

function reset() {
  Object.assign(state, { items: null, error: null });
  listEl = null;
}

export default { id: 'trusts', title: 'Trusts', render, reset };
