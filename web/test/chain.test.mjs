// Checks web/src/chain.js against pkg/audit: the vectors (written by
// pkg/audit's TestVectors) hold events with every field set, linked and
// signed by Go; the port must give the same bytes, hashes and verdicts.
// Run: node --test web/test/ (pkg/audit's TestChainJS does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { actionList, canonical, genesis, hashOf, signedBytes, verify, verifySigned } from '../src/chain.js';

const v = JSON.parse(readFileSync(new URL('../../pkg/audit/testdata/vectors.json', import.meta.url), 'utf8'));
const hex = (b) => Buffer.from(b).toString('hex');
const clone = (x) => JSON.parse(JSON.stringify(x));

test('canonical bytes and hashes are pkg/audit\'s', async () => {
  v.events.forEach((e, i) => assert.equal(hex(canonical(e)), v.canonical[i], `canonical of seq ${e.seq}`));
  for (const e of v.events) assert.equal(await hashOf(e), e.hash, `hash of seq ${e.seq}`);
  v.events.forEach((e, i) => {
    if (v.signed_bytes[i]) assert.equal(hex(signedBytes(v.owner, e.seq, e.hash)), v.signed_bytes[i], `signed bytes of seq ${e.seq}`);
  });
});

// A log holding any action pkg/audit writes verifies here too; one
// pkg/audit does not know does not.
test('the actions are pkg/audit\'s', async () => {
  assert.deepEqual(actionList, v.actions);
  const linked = [];
  let prev = genesis;
  for (const [i, action] of v.actions.filter((a) => a !== 'trim').entries()) {
    const e = { seq: i + 1, time: '2026-01-02T03:04:05.678Z', action, keys: [], actor: v.owner, ip: '127.0.0.1', status: 200, prev_hash: prev };
    e.hash = await hashOf(e);
    prev = e.hash;
    linked.push(e);
  }
  const r = await verify(linked);
  assert.equal(r.ok, true, r.reason);
  const odd = clone(linked[0]);
  odd.action = 'launch';
  odd.hash = await hashOf(odd);
  assert.equal((await verify([odd])).ok, false);
});

test('the log verifies as VerifySigned found', async () => {
  const r = await verifySigned(v.events, v.owner, v.keys);
  assert.equal(r.ok, true, r.reason);
  assert.deepEqual(r.head, v.head);
  assert.equal(r.vouched, v.vouched);
  assert.equal(r.sigKey, v.keys[0].id);
});

// Every field an event has is covered by its hash.
test('a change to any field breaks the chain', async () => {
  const edits = {
    seq: (e) => { e.seq += 1; }, time: (e) => { e.time = new Date(Date.parse(e.time) + 1).toISOString(); },
    action: (e) => { e.action = e.action === 'read' ? 'list' : 'read'; }, keys: (e) => { e.keys = [...e.keys, 'x']; },
    actor: (e) => { e.actor += 'x'; }, job: (e) => { e.job = (e.job || '') + 'x'; }, ip: (e) => { e.ip += '1'; },
    status: (e) => { e.status += 1; }, count: (e) => { e.count = (e.count || 0) + 2; },
    last: (e) => { e.last = new Date(Date.parse(e.last || e.time) + 1000).toISOString(); },
    key_count: (e) => { e.key_count = (e.key_count || 0) + 1; }, keys_digest: (e) => { e.keys_digest = '1'.repeat(64); },
    vouch: (e) => { e.vouch = [...(e.vouch || []), 'x']; },
  };
  for (const [field, edit] of Object.entries(edits)) {
    for (const e of v.events) {
      if (e.action === 'trim' && field === 'action') continue;
      const c = clone(e);
      edit(c);
      assert.notEqual(await hashOf(c), e.hash, `${field} of seq ${e.seq}`);
    }
  }
  for (const e of v.events.filter((x) => x.trimmed)) {
    for (const edit of [(t) => { t.first_seq += 1; }, (t) => { t.anchor = '2'.repeat(64); }, (t) => { t.reason = (t.reason || '') + 'x'; },
      (t) => { t.before = '2020-01-01T00:00:00Z'; }, (t) => { t.retention = (t.retention || 0) + 1e6; }]) {
      const c = clone(e);
      edit(c.trimmed);
      assert.notEqual(await hashOf(c), e.hash, `trim of seq ${e.seq}: ${edit}`);
    }
  }
});

test('what a store operator can do does not verify', async () => {
  const signed = v.events.map((e, i) => (e.sig ? i : -1)).filter((i) => i >= 0);
  const cases = {
    'another key': [v.events, [{ id: 'c5b940ed3f65c391', public_key: '11'.repeat(32) }]],
    'newest unsigned': [v.events.map((e, i) => (i === v.events.length - 1 ? { ...e, sig: '', sig_key: '' } : e)), v.keys],
    'signature flipped': [v.events.map((e, i) => (i === signed[signed.length - 1] ? { ...e, sig: e.sig.replace(/^./, e.sig[0] === '0' ? '1' : '0') } : e)), v.keys],
    'old signature flipped': [v.events.map((e, i) => (i === signed[0] ? { ...e, sig: e.sig.replace(/^./, e.sig[0] === '0' ? '1' : '0') } : e)), v.keys],
    'another owner': [v.events, v.keys, 'someone-else'],
  };
  for (const [name, [events, keys, owner]] of Object.entries(cases)) {
    const r = await verifySigned(events, owner || v.owner, keys);
    assert.equal(r.ok, false, name);
  }
  // A rewritten event with every later hash recomputed.
  const evs = clone(v.events);
  evs[2].actor = 'x';
  for (let i = 2; i < evs.length; i++) {
    if (i > 2) evs[i].prev_hash = evs[i - 1].hash;
    evs[i].hash = await hashOf(evs[i]);
  }
  assert.equal((await verify(evs)).ok, true);
  assert.equal((await verifySigned(evs, v.owner, v.keys)).ok, false);
});

// The server's signing key of the vectors: Go's signer(t, 4), an ed25519
// seed of 32 bytes 0x04, imported as PKCS #8.
async function serverKey() {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 4)]);
  return crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
}

async function link(log, e, key) {
  const prev = log[log.length - 1];
  const ev = { keys: [], actor: '', ip: '', status: 0, ...e, seq: prev.seq + 1, prev_hash: prev.hash };
  ev.hash = await hashOf(ev);
  if (key) {
    ev.sig_key = v.keys[0].id;
    ev.sig = hex(await crypto.subtle.sign('Ed25519', key, signedBytes(v.owner, ev.seq, ev.hash)));
  }
  return [...log, ev];
}

// The start of the log cut, with an unsigned trim record appended and the
// server's next signed event linking onto it: refused, the trim itself is
// unsigned. The same with a trim the server signed: accepted.
test('a trim that starts the log must carry its own signature', async () => {
  const key = await serverKey();
  const last = v.events[v.events.length - 1];
  const trim = { time: last.time, action: 'trim', trimmed: { first_seq: 9, anchor: v.events[8].prev_hash } };
  const later = { time: last.time, action: 'login', actor: v.owner, ip: '127.0.0.1', status: 200 };

  const forged = await link(await link(v.events, trim, null), later, key);
  assert.equal((await verify(forged.slice(8))).ok, true);
  const r = await verifySigned(forged.slice(8), v.owner, v.keys);
  assert.equal(r.ok, false);
  assert.match(r.reason, /trim that accounts for the log's start/);

  const real = await link(await link(v.events, trim, key), later, key);
  const ok = await verifySigned(real.slice(8), v.owner, v.keys);
  assert.equal(ok.ok, true, ok.reason);
  assert.equal(ok.start.seq, real[real.length - 2].seq);
});

// The server's head rewritten and unsigned by the store's operator, then
// a break the server recorded before its next signed event: refused. A
// log from before signing, adopted once: accepted, and reported.
test('a break never verifies; one adoption does', async () => {
  const key = await serverKey();
  const last = v.events[v.events.length - 1];
  const later = { time: last.time, action: 'login', actor: v.owner, ip: '127.0.0.1', status: 200 };
  const brk = await link(await link(v.events, { time: last.time, action: 'break' }, null), later, key);
  const r = await verifySigned(brk, v.owner, v.keys);
  assert.equal(r.ok, false);
  assert.match(r.reason, /recorded a break/);

  const bare = [];
  for (const e of v.events) bare.push({ ...e, sig: undefined, sig_key: undefined });
  const adopted = await link(await link(bare, { time: last.time, action: 'adopt' }, null), later, key);
  const ok = await verifySigned(adopted, v.owner, v.keys);
  assert.equal(ok.ok, true, ok.reason);
  assert.equal(ok.adopted, adopted[adopted.length - 2].seq);
  const twice = await link(await link(adopted.map((e) => ({ ...e, sig: undefined, sig_key: undefined })), { time: last.time, action: 'adopt' }, null), later, key);
  const r2 = await verifySigned(twice, v.owner, v.keys);
  assert.equal(r2.ok, false);
  assert.match(r2.reason, /second adoption/);
});
