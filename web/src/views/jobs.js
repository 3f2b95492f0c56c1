// Jobs: pick the secrets a job may read and get the "secrets" entry of its
// job definition.
import * as api from '../api.js';
import { h, fill, say, listNotice, loadInto } from '../dom.js';

const state = { keys: null, picked: new Set(), extra: '', filter: '', error: null };
const SHOW = 200;
let pickEl, outEl;

async function load() {
  await loadInto(state, 'keys', async () => (await api.list('')).map((i) => i.key));
  renderPicker();
  renderOutput();
}

function wanted() {
  const extra = state.extra.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  return [...new Set([...state.picked, ...extra])];
}

function render(main) {
  const filter = h('input', { id: 'job-filter', type: 'search', value: state.filter, autocomplete: 'off', spellcheck: 'false' });
  filter.addEventListener('input', () => { state.filter = filter.value; renderPicker(); });
  const extra = h('textarea', { id: 'job-extra', rows: 3, spellcheck: 'false', 'aria-describedby': 'job-extra-help' });
  extra.value = state.extra;
  extra.addEventListener('input', () => { state.extra = extra.value; renderOutput(); });
  pickEl = h('fieldset', { class: 'picker', id: 'job-keys' });
  outEl = h('section', { class: 'snippet', 'aria-labelledby': 'snippet-title' });
  fill(main,
    h('div', { class: 'head' }, h('h1', null, 'Secrets for a job')),
    h('p', { class: 'lead' }, 'A node that runs your job can read exactly the secrets its job definition lists, for as long as it runs the job. Pick them here and paste the result at the top level of the job definition.'),
    h('div', { class: 'cols' },
      h('div', null,
        h('div', { class: 'field' }, h('label', { for: 'job-filter' }, 'Filter your keys'), filter),
        pickEl,
        h('div', { class: 'field' }, h('label', { for: 'job-extra' }, 'Other keys'), extra,
          h('p', { class: 'help', id: 'job-extra-help' }, 'One per line, for keys you will add later.'))),
      outEl));
  renderPicker();
  renderOutput();
  if (!state.keys) load();
}

function renderPicker() {
  if (!pickEl) return;
  const legend = h('legend', null, 'Your keys');
  const notice = listNotice(state.error, state.keys, 'Could not list your secrets: ');
  if (notice) { fill(pickEl, legend, notice); return; }
  const q = state.filter.toLowerCase();
  const match = state.keys.filter((k) => k.toLowerCase().includes(q));
  const shown = match.slice(0, SHOW);
  fill(pickEl, legend,
    state.keys.length === 0 ? h('p', { class: 'muted' }, 'You have no secrets yet; list keys below.') : null,
    h('ul', { class: 'checks' }, shown.map((k, i) => {
      const box = h('input', { type: 'checkbox', id: 'pick-' + i, value: k, checked: state.picked.has(k) });
      box.addEventListener('change', () => { if (box.checked) state.picked.add(k); else state.picked.delete(k); renderOutput(); });
      return h('li', null, box, h('label', { for: 'pick-' + i }, h('code', null, k)));
    })),
    match.length > SHOW ? h('p', { class: 'help' }, `Showing ${SHOW} of ${match.length} keys; filter to find the others.`) : null);
}

function snippet(keys) {
  return '"secrets": ' + (keys.length ? '[\n' + keys.map((k) => '  ' + JSON.stringify(k)).join(',\n') + '\n]' : '[]');
}

function renderOutput() {
  if (!outEl) return;
  const keys = wanted();
  const have = new Set(state.keys || []);
  const missing = state.keys ? keys.filter((k) => !have.has(k)) : [];
  const text = snippet(keys);
  fill(outEl,
    h('h2', { id: 'snippet-title' }, 'Job definition'),
    h('pre', { id: 'snippet', class: 'code', tabindex: 0, 'aria-label': 'Snippet for the job definition' }, text),
    missing.length ? h('div', { class: 'alert warn', role: 'alert', id: 'missing' },
      h('p', null, missing.length === 1 ? 'This key does not exist yet:' : 'These keys do not exist yet:'),
      h('ul', null, missing.map((k) => h('li', null, h('code', null, k)))),
      h('p', null, missing.length === 1 ? 'A job that asks for it gets nothing for it until you add it.' : 'A job that asks for them gets nothing for them until you add them.')) : null,
    h('button', { type: 'button', id: 'copy-snippet', class: 'primary', disabled: keys.length === 0,
      onclick: async () => {
        try { await navigator.clipboard.writeText(text); say('Copied the snippet.'); } catch (e) { say('The browser did not allow copying: ' + e.message, 'error'); }
      } }, 'Copy snippet'));
}

function reset() {
  Object.assign(state, { keys: null, picked: new Set(), extra: '', filter: '', error: null });
  pickEl = outEl = null;
}

export default { id: 'jobs', title: 'Jobs', render, reset };
