import * as api from './api.js';
import * as session from './session.js';
import * as wallets from './wallet.js';
import views from './views/index.js';
import { h, fill, say, shortAddress } from './dom.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

let config = null;
let audience = null; // the sign-in audience matching this page, or null
let notice = null; // {kind, text} shown on the sign-in screen
let found = [];
let busy = false;

const pageBase = api.base.href.replace(/\/$/, '');

function currentView() {
  const id = location.hash.replace(/^#\/?/, '').split('/')[0];
  return views.find((v) => v.id === id) || views[0];
}

function renderShell() {
  const s = session.get();
  nav.hidden = who.hidden = !s;
  if (!s) return;
  const view = currentView();
  fill(nav, views.map((v) => h('a', { href: '#/' + v.id, 'aria-current': v === view ? 'page' : null }, v.title)));
  const ends = new Date(s.expires);
  fill(who,
    h('span', { class: 'addr', title: s.address }, shortAddress(s.address)),
    h('span', { class: 'ends' }, 'session ends ', h('time', { datetime: ends.toISOString() }, ends.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))),
    h('button', { type: 'button', class: 'ghost', id: 'sign-out', onclick: () => session.end('signed-out') }, 'Sign out'));
}

function render() {
  renderShell();
  if (session.get()) {
    const view = currentView();
    document.title = view.title + ' · nosana-secrets';
    view.render(main);
  } else {
    document.title = 'Sign in · nosana-secrets';
    renderSignIn();
  }
}

function renderSignIn() {
  const parts = [h('h1', null, 'Sign in with your Solana wallet')];
  parts.push(h('p', { class: 'lead' },
    'Your wallet signs a one-time sign-in message for ', h('strong', null, audience ? audience.domain : location.host),
    '. No transaction, no fee. The session lasts an hour and ends when you close this tab.'));
  if (notice) parts.push(h('p', { class: 'alert ' + notice.kind, role: 'alert', id: 'notice' }, notice.text));
  if (config && !audience) {
    const accepted = config.audiences.map((a) => a.uri).join(', ') || 'none';
    parts.push(h('div', { class: 'alert error', role: 'alert', id: 'origin-mismatch' },
      h('p', null, h('strong', null, 'This server does not accept sign-ins for this page. ')),
      h('p', null, 'The console is open at ', h('code', null, pageBase), ', but the server accepts sign-in messages only for ', h('code', null, accepted), '.'),
      h('p', null, 'Set ', h('code', null, 'PUBLIC_URL=' + pageBase), ' on the server and restart it, or open the console at the URL it accepts.')));
  } else if (config && found.length === 0) {
    parts.push(h('div', { class: 'alert', role: 'alert', id: 'no-wallet' },
      h('p', null, h('strong', null, 'No Solana wallet found in this browser.')),
      h('p', null, 'Install a wallet extension such as Phantom, Solflare or Backpack, then reload this page.')));
  }
  if (config && audience && found.length) {
    parts.push(h('ul', { class: 'wallets', 'aria-label': 'Wallets' }, found.map((w) => h('li', null,
      h('button', { type: 'button', class: 'wallet', disabled: busy, onclick: () => signInWith(w) },
        w.icon ? h('img', { src: w.icon, alt: '', width: 32, height: 32 }) : null,
        h('span', null, 'Sign in with ', w.name))))));
  }
  parts.push(h('p', { class: 'muted' }, 'Prefer a terminal? ', h('code', null, 'nosana-secrets login'), ' signs the same message with a keypair file.'));
  fill(main, h('section', { class: 'signin card' }, parts));
}

async function signInWith(wallet) {
  busy = true;
  notice = { kind: 'info', text: `Waiting for ${wallet.name}… approve the sign-in request in your wallet.` };
  renderSignIn();
  try {
    const signed = await wallets.signIn(wallet, audience, config.statement);
    const token = await api.login(signed.address, signed.signature, signed.message);
    notice = null;
    busy = false;
    session.start(token, signed.address, wallet.name);
  } catch (e) {
    busy = false;
    notice = { kind: 'error', text: e instanceof wallets.WalletRefused ? e.message + ' Nothing was sent to the server.' : 'Sign-in failed: ' + e.message };
    renderSignIn();
  }
}

session.onChange((s, why, detail) => {
  for (const v of views) if (v.reset) v.reset();
  if (why === 'expired') notice = { kind: 'warn', text: 'Your session expired. Sign in again to go on.' };
  else if (why === 'refused') notice = { kind: 'warn', text: `The server ended your session (${detail}). Sign in again.` };
  else if (why === 'signed-out') notice = { kind: 'info', text: 'You are signed out.' };
  if (!s) document.getElementById('status').replaceChildren();
  render();
  if (why === 'signed-in') say('Signed in as ' + shortAddress(s.address) + '.');
  main.focus();
});

window.addEventListener('hashchange', () => { if (session.get()) { render(); main.focus(); } });

document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !e.ctrlKey && !e.metaKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
    const search = document.getElementById('search');
    if (search) { e.preventDefault(); search.focus(); }
  }
});

async function boot() {
  try {
    config = await api.config();
    audience = config.audiences.find((a) => a.uri.replace(/\/$/, '') === pageBase) || null;
  } catch (e) {
    notice = { kind: 'error', text: 'Could not load the console settings: ' + e.message };
  }
  session.restore();
  wallets.watch((list) => {
    found = list;
    if (!session.get()) renderSignIn();
  });
  if (!session.get()) renderSignIn();
  else render();
  performance.mark('console-ready');
  document.documentElement.dataset.ready = 'true';
}

boot();
