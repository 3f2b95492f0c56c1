// Drives a running nosana-secrets (started by test/e2e's TestNosanaSDK,
// which passes what it set up in NS_* variables) as today's Nosana node
// does, with the real @nosana/sdk 0.4.69: generateHeader builds the node's
// Authorization, validateJobDefinition checks the answered definition and
// judges a corpus the server must judge the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { AuthorizationManager, validateJobDefinition } from '@nosana/sdk';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run this through go test ./test/e2e -run TestNosanaSDK`);
  return v;
};
const url = env('NS_URL');
const owner = env('NS_OWNER_TOKEN');
const job = env('NS_JOB');
const name = env('NS_NAME');

async function definition() {
  const r = await fetch(`${url}/v1/job-definitions/${encodeURIComponent(name)}`, { headers: { Authorization: owner } });
  assert.equal(r.status, 200);
  return r.json();
}

// The node substitutes the first %%global.job%% in the on-chain endpoint.
const endpoint = (placeholder, which) => placeholder.logistics[which].args.endpoint.replace('%%global.job%%', job);

test('the checked-in schema is what genschema derives from this SDK', () => {
  const fresh = execFileSync(process.execPath, ['genschema.mjs'], { encoding: 'utf8' });
  assert.equal(readFileSync('../../pkg/jobdef/sdk-0.4.69.schema.json', 'utf8'), fresh);
});

test('the template and its placeholder pass validateJobDefinition', async () => {
  const d = await definition();
  assert.ok(validateJobDefinition(d.definition).success);
  const p = validateJobDefinition(d.placeholder);
  assert.ok(p.success, JSON.stringify(p.errors));
  assert.deepEqual(d.placeholder.ops, []);
});

test('the node fetches its definition with generateHeader and it validates', async () => {
  const { placeholder } = await definition();
  const node = new AuthorizationManager(env('NS_NODE_KEY'));
  const headers = await node.generateHeader(job, { includeTime: true });
  const [j, , t] = headers.get('Authorization').split(':');
  assert.equal(j, job);
  assert.ok(Math.abs(Date.now() - Number(t)) < 5000);
  const r = await fetch(endpoint(placeholder, 'send'), { method: 'GET', headers });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const def = JSON.parse(text);
  const v = validateJobDefinition(def);
  assert.ok(v.success, JSON.stringify(v.errors));
  assert.deepEqual(def.ops[0].args.env, JSON.parse(env('NS_EXPECT_ENV')));
  assert.ok(!text.includes('%%secrets.'));
});

test('another wallet\'s header is refused', async () => {
  const { placeholder } = await definition();
  const stranger = new AuthorizationManager(env('NS_STRANGER_KEY'));
  const r = await fetch(endpoint(placeholder, 'send'), { headers: await stranger.generateHeader(job, { includeTime: true }) });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, 'job_refused');
});

test('the node posts its result as it does after a run', async () => {
  const { placeholder } = await definition();
  const node = new AuthorizationManager(env('NS_NODE_KEY'));
  const headers = await node.generateHeader(job, { includeTime: true });
  headers.append('Content-Type', 'application/json');
  const flow = { status: 'success', startTime: Date.now() - 1000, endTime: Date.now(), opStates: [
    { providerId: null, operationId: 'run', group: null, status: 'success', startTime: 1, endTime: 2, exitCode: 0,
      logs: [{ type: 'stdout', log: 'done\n' }] }] };
  const r = await fetch(endpoint(placeholder, 'receive'), { method: 'POST', headers, body: JSON.stringify(flow) });
  assert.equal(r.status, 200, await r.text());
  const stored = await fetch(`${url}/v1/secrets/${encodeURIComponent(`jobs/${job}/results`)}`, { headers: { Authorization: owner } });
  assert.deepEqual((await stored.json()).value, flow);
});

// Unknown properties at every object of a valid definition: the SDK
// refuses each (validateEquals), and so must the server.
function mutations(def) {
  const out = [];
  const walk = (v, path) => {
    if (Array.isArray(v)) { v.forEach((x, i) => walk(x, [...path, i])); return; }
    if (v === null || typeof v !== 'object') return;
    const copy = structuredClone(def);
    let o = copy;
    for (const p of path) o = o[p];
    o.x_unknown = 1;
    out.push(copy);
    for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(def, []);
  return out;
}

test('the server judges a corpus as validateJobDefinition does', async () => {
  const corpus = JSON.parse(readFileSync('corpus.json', 'utf8'));
  for (const d of [...corpus]) if (validateJobDefinition(d).success) corpus.push(...mutations(d));
  let i = 0, agreed = 0;
  for (const d of corpus) {
    const sdk = validateJobDefinition(d).success;
    const r = await fetch(`${url}/v1/job-definitions/corpus-${i++}`, {
      method: 'PUT', headers: { Authorization: owner, 'Content-Type': 'application/json' }, body: JSON.stringify(d) });
    const body = await r.json();
    assert.ok(r.status === 200 || r.status === 400, `${r.status} ${JSON.stringify(body)}`);
    if (!sdk) assert.equal(body.code, 'invalid_job_definition', JSON.stringify(body));
    assert.equal(r.status === 200, sdk, `corpus item ${i - 1}: SDK says ${sdk}, server ${r.status} ${JSON.stringify(body)}: ${JSON.stringify(d)}`);
    agreed++;
  }
  assert.ok(agreed > 100, `only ${agreed} definitions judged`);
});
