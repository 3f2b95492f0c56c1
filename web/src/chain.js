// The audit log's hash chain, checked in the browser exactly as pkg/audit
// does (Canonical, ComputeHash, Verify): hash = SHA-256(prev_hash ‖ canonical).

const enc = new TextEncoder();
const domain = 'nosana-secrets audit v1\n';
const actions = new Set(['login', 'read', 'list', 'write', 'delete', 'restore', 'denied', 'trim']);
const hex64 = /^[0-9a-f]{64}$/;
export const genesis = '0'.repeat(64);

/** The bytes an event's hash covers (pkg/audit.Canonical). */
export function canonical(e) {
  const parts = [];
  let n = 0;
  const push = (b) => { parts.push(b); n += b.length; };
  const u64 = (v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v))); push(b); };
  const u32 = (v) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0); push(b); };
  const str = (s) => { const b = enc.encode(s || ''); u32(b.length); push(b); };
  push(enc.encode(domain));
  u64(e.seq);
  u64(Date.parse(e.time));
  str(e.action);
  const keys = e.keys || [];
  u32(keys.length);
  for (const k of keys) str(k);
  str(e.actor);
  str(e.job);
  str(e.ip);
  u32(e.status);
  u32(e.count || 0);
  if (e.trimmed) {
    push(Uint8Array.of(1));
    u64(e.trimmed.first_seq);
    str(e.trimmed.anchor);
  } else {
    push(Uint8Array.of(0));
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function fromHex(s) {
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function toHex(buf) {
  return Array.from(new Uint8Array(buf), (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The hex hash of e under e.prev_hash, or null when prev_hash is malformed. */
export async function hashOf(e) {
  if (!hex64.test(e.prev_hash)) return null;
  const c = canonical(e);
  const data = new Uint8Array(32 + c.length);
  data.set(fromHex(e.prev_hash));
  data.set(c, 32);
  return toHex(await crypto.subtle.digest('SHA-256', data));
}

/**
 * Checks a whole log, oldest event first (pkg/audit.Verify). Answers
 * {ok: true, head: {seq, hash}} or {ok: false, seq, reason}.
 */
export async function verify(events) {
  if (events.length === 0) return { ok: true, head: { seq: 0, hash: '' } };
  let trimTo = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const fail = (reason) => ({ ok: false, index: i, seq: e.seq, reason });
    if (!e.seq) return fail('seq 0: events are numbered from 1');
    if (!actions.has(e.action)) return fail(`unknown action "${e.action}"`);
    if ((e.action === 'trim') !== !!e.trimmed) return fail(`trim details on a ${e.action} event, or a trim event without them`);
    const h = await hashOf(e);
    if (h === null) return fail('prev_hash is not 64 lowercase hex digits');
    if (h !== e.hash) return fail('hash does not match the event: it was altered');
    if (i > 0) {
      const prev = events[i - 1];
      if (e.seq !== prev.seq + 1) return fail(`follows seq ${prev.seq}: events are missing or out of order`);
      if (e.prev_hash !== prev.hash) return fail(`prev_hash is not the hash of seq ${prev.seq}: the log was rewritten`);
    }
    if (e.trimmed) {
      if (e.trimmed.first_seq > e.seq) return fail(`trim claims events up to seq ${e.trimmed.first_seq}, after itself`);
      if (!hex64.test(e.trimmed.anchor)) return fail('trim anchor is not 64 lowercase hex digits');
      trimTo = Math.max(trimTo, e.trimmed.first_seq);
    }
  }
  const first = events[0];
  if (first.seq === 1) {
    if (first.prev_hash !== genesis) return { ok: false, index: 0, seq: 1, reason: 'event 1 does not link to the genesis hash' };
  } else if (trimTo === 0) {
    return { ok: false, index: 0, seq: first.seq, reason: 'the log starts here and no trim event records why: older events were removed' };
  } else if (first.seq > trimTo) {
    return { ok: false, index: 0, seq: first.seq, reason: `retention kept events from seq ${trimTo}, but the log starts later: events were removed` };
  } else {
    const t = events.find((e) => e.trimmed && e.trimmed.first_seq === trimTo);
    const kept = events[trimTo - first.seq];
    if (kept.prev_hash !== (t ? t.trimmed.anchor : '')) {
      return { ok: false, index: trimTo - first.seq, seq: kept.seq, reason: "the first event kept by retention does not link to the trim's anchor" };
    }
  }
  const last = events[events.length - 1];
  return { ok: true, head: { seq: last.seq, hash: last.hash } };
}
