// Tiny DOM helpers. Text always goes in as text nodes, never as HTML, so a
// key or value can hold anything.

/** h('button', {class: 'x', onclick: fn}, 'label', child…) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let statusTimer;

/** Says msg in the live status region (read by screen readers), for a while. */
export function say(msg, kind = 'ok') {
  const el = document.getElementById('status');
  fill(el, h('p', { class: 'toast ' + kind }, msg));
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => el.replaceChildren(), 6000);
}

export function shortAddress(a) {
  return a.length > 12 ? a.slice(0, 4) + '…' + a.slice(-4) : a;
}

/** A time as the reader's local date and time, in a <time> element. */
export function when(iso) {
  const d = new Date(iso);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() },
    d.toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
}

export function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

/** A modal <dialog>; resolves with the value passed to close(), or null. */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' });
    let result = null;
    const close = (v) => { result = v; dlg.close(); };
    fill(dlg, h('h2', { id: 'dlg-title' }, title), build(close));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/**
 * What a list shows instead of its rows, or null when it has rows to show:
 * its load's error (after the words failed), "Loading…" while items is
 * null, and, when empty ([id, text]) is given, that it has none.
 */
export function listNotice(error, items, failed, empty) {
  if (error) return h('p', { class: 'alert error', role: 'alert' }, failed + error);
  if (!items) return h('p', { class: 'muted' }, 'Loading…');
  if (empty && items.length === 0) return h('p', { class: 'muted', id: empty[0] }, empty[1]);
  return null;
}

/**
 * Loads a view's list: state[key] becomes what fetch() resolves with and
 * state.error null, or, when it fails, state.error its message.
 */
export async function loadInto(state, key, fetch) {
  try {
    state[key] = await fetch();
    state.error = null;
  } catch (e) {
    state.error = e.message;
  }
}

/**
 * Asks before a step that cannot be taken back: a dialog titled title that
 * says text, with Cancel (focused) and a danger button label; ids names
 * the two buttons. Resolves true when confirmed.
 */
export function confirmDanger(title, text, label, [cancelId, confirmId]) {
  return modal(title, (close) => h('div', null,
    h('p', null, text),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', id: cancelId, onclick: () => close(false), autofocus: true }, 'Cancel'),
      h('button', { type: 'button', id: confirmId, class: 'danger solid', onclick: () => close(true) }, label))));
}

/**
 * Asks confirmDanger(...ask), then runs act and says done, or failed and
 * act's error. Resolves false when the user cancelled.
 */
export async function confirmAndRun(ask, act, done, failed) {
  if (!(await confirmDanger(...ask))) return false;
  try {
    await act();
    say(done);
  } catch (e) {
    say(failed + e.message, 'error');
  }
  return true;
}

/**
 * The page of items that a list paged by size shows, after clamping
 * state.page to the pages there are: {pages, from, page}, from being the
 * index of its first item.
 */
export function pageOf(items, state, size) {
  const pages = Math.max(1, Math.ceil(items.length / size));
  state.page = Math.min(state.page, pages - 1);
  const from = state.page * size;
  return { pages, from, page: items.slice(from, from + size) };
}

/**
 * Fills el with a pager when there is more than one page: at is the page
 * shown, labels the [back, forward] buttons, turn(by) is called with -1 or
 * 1, and ids (optional) names the back button, the page text and the
 * forward button.
 */
export function pager(el, at, pages, labels, turn, ids = []) {
  fill(el, pages > 1 ? [
    h('button', { type: 'button', id: ids[0], disabled: at === 0, onclick: () => turn(-1) }, labels[0]),
    h('span', { id: ids[1] }, `Page ${at + 1} of ${pages}`),
    h('button', { type: 'button', id: ids[2], disabled: at >= pages - 1, onclick: () => turn(1) }, labels[1]),
  ] : null);
}
