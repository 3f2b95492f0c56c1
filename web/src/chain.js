// The audit log's hash chain and the server's signatures on it, checked in
// the browser exactly as pkg/audit does (Canonical, ComputeHash, Verify,
// SignedBytes, VerifySigned): hash = SHA-256(prev_hash ‖ canonical), and
// an ed25519 signature (WebCrypto) on the newest event vouches for all.

const enc = new TextEncoder();
const domain = 'nosana-secrets audit v1\n';
const sigDomain = 'nosana-secrets audit head v1\n';
// actionList is every action an event may record, in pkg/audit's order
// (audit.Actions; the test checks it against the vectors).
export const actionList = ['login', 'read', 'list', 'write', 'delete', 'restore', 'denied', 'trim', 'rekey', 'fetch', 'result',
  'token_create', 'token_revoke', 'trust_create', 'trust_delete', 'oidc_exchange', 'adopt', 'break'];
const actions = new Set(actionList);
const hex64 = /^[0-9a-f]{64}$/;
export const genesis = '0'.repeat(64);

// bytes builds a byte string from big-endian integers and length-prefixed
// strings (pkg/audit's encoding).
function bytes() {
  const parts = [];
  let n = 0;
  const w = {
    raw(b) { parts.push(b); n += b.length; return w; },
    u8(v) { return w.raw(Uint8Array.of(v)); },
    u64(v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v))); return w.raw(b); },
    u32(v) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0); return w.raw(b); },
    str(s) { const b = enc.encode(s || ''); w.u32(b.length); return w.raw(b); },
    done() {
      const out = new Uint8Array(n);
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    },
  };
  return w;
}

// ms is a JSON time in Unix milliseconds, 0 when absent (Go's zero time is
// left out of the JSON).
function ms(t) {
  return t ? Date.parse(t) : 0;
}

// retentionMs is a trim's retention (JSON: nanoseconds) in whole
// milliseconds, as Go's Duration.Milliseconds. Past 2^53 ns (104 days) it
// is not a safe integer, but the server keeps it to the millisecond, and
// a whole number of milliseconds in nanoseconds is exact in a double for
// 18 years; rounding gives that number.
function retentionMs(ns) {
  if (!ns) return 0;
  if (Number.isSafeInteger(ns)) return Number(BigInt(ns) / 1000000n);
  return Math.round(ns / 1e6);
}

// hasExtension: e sets a field that canonical encodes after the trim.
function hasExtension(e) {
  if (e.last || e.key_count || e.keys_digest || (e.vouch && e.vouch.length)) return true;
  const t = e.trimmed;
  return !!t && !!(t.reason || t.before || t.retention);
}

/** The bytes an event's hash covers (pkg/audit.Canonical). */
export function canonical(e) {
  const b = bytes().raw(enc.encode(domain)).u64(e.seq).u64(Date.parse(e.time)).str(e.action);
  const keys = e.keys || [];
  b.u32(keys.length);
  for (const k of keys) b.str(k);
  b.str(e.actor).str(e.job).str(e.ip).u32(e.status).u32(e.count || 0);
  if (e.trimmed) b.u8(1).u64(e.trimmed.first_seq).str(e.trimmed.anchor);
  else b.u8(0);
  if (hasExtension(e)) {
    const t = e.trimmed || {};
    b.u8(2).u64(ms(e.last)).u32(e.key_count || 0).str(e.keys_digest);
    b.str(t.reason).u64(ms(t.before)).u64(retentionMs(t.retention));
    const vouch = e.vouch || [];
    b.u32(vouch.length);
    for (const v of vouch) b.str(v);
  }
  return b.done();
}

/** The bytes a signature of owner's head (seq, hash) covers (pkg/audit.SignedBytes). */
export function signedBytes(owner, seq, hash) {
  const b = bytes().raw(enc.encode(sigDomain)).str(owner).u64(seq);
  if (hex64.test(hash)) b.raw(fromHex(hash));
  return b.done();
}

// fromHex decodes hex of either case (as Go's encoding/hex), or answers
// null.
function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 || /[^0-9a-fA-F]/.test(s)) return null;
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

/** The id of a public key: the hex of the first 8 bytes of its SHA-256 (pkg/audit.KeyID). */
export async function keyID(raw) {
  return toHex(await crypto.subtle.digest('SHA-256', raw)).slice(0, 16);
}

// parseKey reads "id:hex" (or a bare hex key) as pkg/audit.ParsePublicKey:
// {id, raw}, or null when malformed or the id is not the key's.
async function parseKey(s) {
  const i = s.indexOf(':');
  const [id, hex] = i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
  const raw = fromHex(hex);
  if (!raw || raw.length !== 32) return null;
  const want = await keyID(raw);
  return id !== '' && id !== want ? null : { id: want, raw };
}

/**
 * Checks a whole log of owner as pkg/audit.VerifySigned does: the chain
 * (verify), then that the server vouches for all of it. keys are the
 * server's public keys as GET /v1/audit/key answers them ({id,
 * public_key}). Answers {ok: true, head, vouched, sigKey, start} or
 * {ok: false, seq, reason}.
 */
export async function verifySigned(events, owner, keys) {
  const r = await verify(events);
  if (!r.ok || events.length === 0) return r;
  const trusted = new Map(); // id → CryptoKey
  const trust = async (s) => {
    const k = await parseKey(s);
    if (k) trusted.set(k.id, await crypto.subtle.importKey('raw', k.raw, { name: 'Ed25519' }, false, ['verify']));
  };
  for (const k of keys) await trust(`${k.id}:${k.public_key}`);
  // valid: {known} when a trusted key made e's signature, {ok} when it holds.
  const valid = async (e) => {
    const pub = trusted.get(e.sig_key);
    if (!pub) return { known: false, ok: false };
    const sig = fromHex(e.sig || '');
    let ok = false;
    try {
      ok = !!sig && await crypto.subtle.verify('Ed25519', pub, sig, signedBytes(owner, e.seq, e.hash));
    } catch { /* a malformed signature: not valid */ }
    return { known: true, ok };
  };
  const n = events.length;
  const altered = (i) => ({ ok: false, index: i, seq: events[i].seq, reason: 'its signature does not match: the event or its signature was altered' });
  // The newest event signed by a trusted key vouches for all before it.
  let last = -1;
  for (let i = n - 1; i >= 0; i--) {
    if (!events[i].sig) continue;
    const v = await valid(events[i]);
    if (v.known && !v.ok) return altered(i);
    if (v.ok) { last = i; break; }
  }
  if (last < 0) {
    return { ok: false, index: 0, seq: events[0].seq, unsigned: true,
      reason: `no event carries a signature by a key this server publishes (${n} events; seq ${events[0].seq} to ${r.head.seq})` };
  }
  if (last < n - 1) {
    return { ok: false, index: last + 1, seq: events[last + 1].seq, unsigned: true,
      reason: `the ${n - 1 - last} newest events (seq ${events[last + 1].seq} to ${r.head.seq}) carry no valid signature: they were added by someone without the master key` };
  }
  // Keys that vouched Rekey events retire stay trusted for older events.
  for (const e of events.slice(0, last + 1)) {
    if (e.action === 'rekey') for (const v of e.vouch || []) await trust(v);
  }
  let start = null;
  for (let i = 0; i <= last; i++) {
    const e = events[i];
    if (e.sig && i < last) {
      const v = await valid(e);
      if (v.known && !v.ok) return altered(i);
    }
    const t = e.trimmed;
    if (!t) continue;
    if (t.reason === 'retention') {
      const ret = t.retention || 0;
      if (ret < 0 || ms(t.before) > Date.parse(e.time) - ret / 1e6) {
        return { ok: false, index: i, seq: e.seq, reason: 'the trim removed events newer than its retention' };
      }
    }
    if (events[0].seq > 1 && (!start || t.first_seq > start.trimmed.first_seq)) start = e;
  }
  // The trim that explains the log's start must carry its own signature.
  if (start && !(await valid(start)).ok) {
    return { ok: false, index: start.seq - events[0].seq, seq: start.seq,
      reason: `the trim that accounts for the log's start (events before seq ${start.trimmed.first_seq} removed) carries no valid signature by the server: it was added by someone without the master key (or by a release that did not sign, until the next trim)` };
  }
  // A break: the server found a head it had not signed, so the events
  // since its last signature are not its. One adoption, of a log that no
  // event before it signed (pkg/audit checkContinued).
  let adopted = 0;
  for (let i = 0; i <= last; i++) {
    const e = events[i];
    if (e.action === 'break') {
      let from = events[0].seq;
      for (let j = i - 1; j >= 0; j--) {
        if ((await valid(events[j])).ok) { from = events[j].seq + 1; break; }
      }
      const what = from >= e.seq ? 'its signature was made by a key the server no longer trusts'
        : `events seq ${from} to ${e.seq - 1} were written or altered by someone without the master key`;
      return { ok: false, index: i, seq: e.seq,
        reason: `the server found the log's head (seq ${e.seq - 1}) not signed by it and recorded a break: ${what}` };
    }
    if (e.action === 'adopt') {
      if (adopted) {
        return { ok: false, index: i, seq: e.seq,
          reason: `a second adoption (the first at seq ${adopted}): the log's signatures were removed and its events may be rewritten` };
      }
      const signed = events.slice(0, i).find((o) => o.sig);
      if (signed) {
        return { ok: false, index: i, seq: e.seq, reason: `an adoption of a log that was signed already (seq ${signed.seq} carries a signature)` };
      }
      adopted = e.seq;
    }
  }
  return { ok: true, head: r.head, vouched: events[last].seq, sigKey: events[last].sig_key, start, adopted };
}
