// Job definitions: the confidential job definitions today's Nosana node
// fetches from this server (issue 22). A list, an editor that shows the
// node's validator's refusal where it applies, the placeholder to post on
// chain with a copy button, and the nodes' fetches from the audit log.
import * as api from '../api.js';
import { h, fill, say, when, modal, shortAddress, listNotice, loadInto } from '../dom.js';

const state = { list: null, error: null, editing: null, events: null };
// editing: {name, text, isNew, saved: {version, secrets, placeholder}|null, problem: {path, reason}|null}
let mainEl;

const EXAMPLE = JSON.stringify({
  version: '0.1', type: 'container', meta: { trigger: 'cli' },
  ops: [{ type: 'container/run', id: 'run', args: { image: 'ubuntu', cmd: ['sh', '-c', 'echo ready'], env: { API_TOKEN: '%%secrets.API_TOKEN%%' } } }],
}, null, 2);

async function load() {
  await loadInto(state, 'list', api.definitions);
  draw();
}

function render(main) {
  mainEl = main;
  draw();
  if (!state.list && !state.error) load();
}

function draw() {
  if (!mainEl) return;
  if (state.editing) return drawEditor();
  const head = h('div', { class: 'head' }, h('h1', null, 'Job definitions'),
    h('button', { type: 'button', class: 'primary', id: 'new-definition', onclick: () => edit(null) }, 'New definition'));
  const lead = h('p', { class: 'lead' }, 'Today\'s Nosana node fetches a confidential job definition from this server, with ',
    h('code', null, '%%secrets.KEY%%'), ' filled in from your secrets, only for the job it runs. Post the placeholder on chain instead of the definition.');
  let body = listNotice(state.error, state.list, 'Could not list your job definitions: ', ['no-definitions', 'No job definitions yet.']);
  if (!body) {
    body = h('table', { class: 'secrets', id: 'definitions' },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Version'), h('th', null, 'Secrets'), h('th', null, 'Updated'))),
      h('tbody', null, state.list.map((d) => h('tr', null,
        h('td', null, h('button', { type: 'button', class: 'link', onclick: () => edit(d.name) }, d.name)),
        h('td', null, String(d.version)),
        h('td', null, d.secrets.map((k, i) => [i ? ', ' : '', h('code', null, k)])),
        h('td', null, when(d.updated_at))))));
  }
  fill(mainEl, head, lead, body);
}

async function edit(name) {
  state.events = null;
  if (name === null) {
    state.editing = { name: '', text: EXAMPLE, isNew: true, saved: null, problem: null };
    draw();
    return;
  }
  try {
    const d = await api.definition(name);
    state.editing = { name, text: JSON.stringify(d.definition, null, 2), isNew: false, saved: d, problem: null };
  } catch (e) {
    say('Could not read ' + name + ': ' + e.message, 'error');
    return;
  }
  draw();
  loadEvents(name);
}

async function loadEvents(name) {
  try {
    const [fetches, denied] = await Promise.all([api.audit({ action: 'fetch' }, 1), api.audit({ action: 'denied' }, 1)]);
    const mine = (e) => e.keys.length && (e.keys[0] === 'job-definition:' + name || e.keys[0].startsWith('job-definition:' + name + '@v'));
    state.events = [...fetches, ...denied].filter(mine).sort((a, b) => b.seq - a.seq);
  } catch (e) {
    state.events = { error: e.message };
  }
  if (state.editing && state.editing.name === name) drawEditor();
}

function drawEditor() {
  const ed = state.editing;
  const name = h('input', { type: 'text', id: 'definition-name', value: ed.name, disabled: !ed.isNew, autocomplete: 'off', spellcheck: 'false', required: true });
  name.addEventListener('input', () => { ed.name = name.value; });
  const text = h('textarea', { id: 'definition-text', rows: 18, spellcheck: 'false', class: 'code',
    'aria-describedby': ed.problem ? 'definition-problem' : null, 'aria-invalid': ed.problem ? 'true' : null });
  text.value = ed.text;
  text.addEventListener('input', () => { ed.text = text.value; });
  const problem = ed.problem ? h('div', { class: 'alert error', role: 'alert', id: 'definition-problem' },
    h('p', null, h('strong', null, 'Today\'s node would refuse this definition.')),
    ed.problem.path ? h('p', null, 'At ', h('code', { id: 'problem-path' }, ed.problem.path), ': ', h('span', { id: 'problem-reason' }, ed.problem.reason)) : h('p', null, ed.problem.reason)) : null;
  const save = h('button', { type: 'submit', class: 'primary', id: 'save-definition' }, 'Save');
  const form = h('form', { class: 'card', id: 'definition-form' },
    h('div', { class: 'field' }, h('label', { for: 'definition-name' }, 'Name'), name),
    h('div', { class: 'field' }, h('label', { for: 'definition-text' }, 'Job definition (JSON; ', h('code', null, '%%secrets.KEY%%'), ' in any string)'), text),
    problem,
    h('div', { class: 'field actions' }, save,
      h('button', { type: 'button', class: 'ghost', id: 'back-definitions', onclick: () => { state.editing = null; load(); } }, 'Back'),
      ed.isNew ? null : h('button', { type: 'button', class: 'danger', id: 'delete-definition', onclick: () => del(ed.name) }, 'Delete')));
  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  fill(mainEl, h('div', { class: 'head' }, h('h1', null, ed.isNew ? 'New job definition' : ed.name)), form,
    ed.saved ? placeholderCard(ed.saved) : null,
    ed.isNew ? null : fetchesCard());
}

function placeholderCard(saved) {
  const text = JSON.stringify(saved.placeholder, null, 2);
  return h('section', { class: 'card snippet jobdef-card', 'aria-labelledby': 'placeholder-title' },
    h('h2', { id: 'placeholder-title' }, 'Placeholder to post on chain'),
    h('p', null, 'Version ', String(saved.version), '; resolves ', saved.secrets.length ? saved.secrets.map((k, i) => [i ? ', ' : '', h('code', null, k)]) : 'no secrets', '. Post it with ',
      h('code', null, 'nosana job post --file placeholder.json …'), '.'),
    h('pre', { id: 'placeholder', class: 'code', tabindex: 0 }, text),
    h('button', { type: 'button', id: 'copy-placeholder', class: 'primary',
      onclick: async () => {
        try { await navigator.clipboard.writeText(text); say('Copied the placeholder.'); } catch (e) { say('The browser did not allow copying: ' + e.message, 'error'); }
      } }, 'Copy placeholder'));
}

function fetchesCard() {
  const ev = state.events;
  let body = listNotice(ev && ev.error, ev, 'Could not read the audit log: ', ['no-fetches', 'No node has fetched this definition yet.']);
  if (!body) {
    body = h('table', { class: 'secrets', id: 'fetches' },
      h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Outcome'), h('th', null, 'Node'), h('th', null, 'Job'), h('th', null, 'Detail'))),
      h('tbody', null, ev.map((e) => {
        const answered = e.action === 'fetch';
        const detail = answered ? e.keys[0].replace(/^job-definition:/, '') + ' · ' + (e.keys.slice(1).join(', ') || 'no secrets')
          : [e.reason, ...e.keys.slice(1)].filter(Boolean).join(' · ');
        return h('tr', null,
          h('td', null, when(e.time)),
          h('td', null, answered ? 'answered' : 'refused (' + e.status + ')'),
          h('td', null, e.actor ? h('code', { title: e.actor }, shortAddress(e.actor)) : '—'),
          h('td', null, e.job ? h('code', { title: e.job }, shortAddress(e.job)) : '—'),
          h('td', null, detail));
      })));
  }
  return h('section', { class: 'card jobdef-card', 'aria-labelledby': 'fetches-title' }, h('h2', { id: 'fetches-title' }, 'Fetches by nodes'), body);
}

async function submit() {
  const ed = state.editing;
  ed.problem = null;
  if (!ed.name.trim()) { ed.problem = { reason: 'Give the definition a name.' }; drawEditor(); return; }
  try {
    JSON.parse(ed.text);
  } catch (e) {
    ed.problem = { path: '$input', reason: 'not JSON: ' + e.message };
    drawEditor();
    return;
  }
  try {
    const r = await api.saveDefinition(ed.name, ed.text);
    ed.saved = r;
    ed.isNew = false;
    say('Saved ' + ed.name + ', version ' + r.version + '.');
    loadEvents(ed.name);
  } catch (e) {
    if (e.data && e.data.code === 'invalid_job_definition') ed.problem = { path: e.data.path, reason: e.data.reason };
    else ed.problem = { reason: e.message };
  }
  drawEditor();
  if (ed.problem) document.getElementById('definition-problem').focus?.();
}

async function del(name) {
  const ok = await modal('Delete ' + name + '?', (close) => [
    h('p', null, 'A node\'s fetch of it is refused from now on. Its versions are kept like a deleted secret\'s.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', id: 'confirm-delete', onclick: () => close(true) }, 'Delete'),
      h('button', { type: 'button', class: 'ghost', onclick: () => close(false) }, 'Cancel'))]);
  if (!ok) return;
  try {
    await api.removeDefinition(name);
    say('Deleted ' + name + '.');
    state.editing = null;
    load();
  } catch (e) {
    say('Could not delete ' + name + ': ' + e.message, 'error');
  }
}

function reset() {
  Object.assign(state, { list: null, error: null, editing: null, events: null });
  mainEl = null;
}

export default { id: 'jobdefs', title: 'Job definitions', render, reset };
