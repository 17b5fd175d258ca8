// The HTTP half of the container stage (tests/container/test.sh runs it
// against the running image; G1P_CONTAINER_BASE is its address).
//   node tests/container/api.mjs check        every resource family once, each
//                                              answer checked against openapi.yaml;
//                                              then docker/compose.yaml against
//                                              what test.sh ran
//   node tests/container/api.mjs load         requests that are in flight when
//                                              test.sh stops the container: each
//                                              must complete
// Tokens are HS256 over tests/http/lib.mjs's SECRET, which test.sh passes to
// the container as JWT_HS256_SECRET.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { api, token, ROOT } from '../http/lib.mjs';

const server = { base: process.env.G1P_CONTAINER_BASE };
if (!server.base) throw new Error('G1P_CONTAINER_BASE is not set: run tests/container/test.sh');

const run = Date.now().toString(36);
const ADMIN = () => token({ sub: 'container-test' });
let calls = 0;

// api() checks every answer against the contract; this also asserts the status.
async function call(method, urlPath, status, opts = {}) {
  const res = await api(server, method, urlPath, { token: ADMIN(), ...opts });
  calls++;
  assert.equal(res.status, status, `${method} ${urlPath}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  return res;
}

const referral = (ref, extra = {}) => ({
  region: 'gent', referrer: { kind: 'school' }, external_ref: ref, received_on: '2025-01-31',
  question: 'Vraag naar ondersteuning thuis', question_kind: 'consult',
  family: { label: 'Gezin C.', postcode: '9000', children: [{ birth_year: 2014 }] }, ...extra,
});

async function check() {
  // Without a token.
  const health = await call('GET', '/health', 200, { token: null });
  assert.equal(health.body.status, 'ok');
  assert.equal((await call('GET', '/ready', 200, { token: null })).body.status, 'ready');
  const yaml = await call('GET', '/openapi.yaml', 200, { token: null });
  assert.match(yaml.headers.get('content-type'), /^application\/yaml/);
  assert.equal(yaml.text, fs.readFileSync(path.join(ROOT, 'openapi/openapi.yaml'), 'utf8'), 'the image serves the contract of this checkout');
  const docs = await call('GET', '/docs', 200, { token: null });
  assert.match(docs.headers.get('content-type'), /^text\/html/);
  assert.match(docs.text, /<html/i);
  await call('GET', '/v1/regions', 401, { token: null });

  // Regions.
  const regions = await call('GET', '/v1/regions', 200);
  assert.ok(regions.body.items.some((r) => r.code === 'gent'), 'the migrations seeded the regions');
  const gent = await call('GET', '/v1/regions/gent', 200);
  assert.equal(gent.headers.get('etag'), `"${gent.body.version}"`);

  // Organisations.
  const org = await call('POST', '/v1/organisations', 201, { body: { name: `CAW Container ${run}`, sector: 'caw', regions: ['gent'] } });
  assert.equal(org.headers.get('location'), `/v1/organisations/${org.body.id}`);
  await call('GET', `/v1/organisations/${org.body.id}`, 200);

  // Referrals: create, the same push again, a batch.
  const created = await call('POST', '/v1/referrals', 201, { body: referral(`CT-${run}-1`) });
  assert.equal(created.headers.get('location'), `/v1/referrals/${created.body.id}`);
  const again = await call('POST', '/v1/referrals', 200, { body: referral(`CT-${run}-1`) });
  assert.equal(again.body.id, created.body.id, 'the same push answers the existing referral');
  const batch = await call('POST', '/v1/referrals:batch', 200, {
    body: { items: [referral(`CT-${run}-2`), referral(`CT-${run}-1`), { ...referral(`CT-${run}-3`), family: { label: '', postcode: '123' } }] },
  });
  assert.deepEqual(batch.body.results.map((r) => r.status), [201, 200, 422]);
  await call('GET', `/v1/referrals?external_ref=CT-${run}-1`, 200);

  // Deadlines.
  const deadlines = await call('GET', '/v1/deadlines?region=gent&as_of=2025-02-10', 200);
  assert.ok(deadlines.body.items.length >= 2);

  // A family from a contacted referral; its plan.
  await call('POST', `/v1/referrals/${created.body.id}/first-contact`, 200, { body: { held_on: '2025-02-10', mode: 'home' } });
  const family = await call('POST', '/v1/families', 201, {
    body: { referral_id: created.body.id, coach: { sub: 'coach-c', name: 'Coach C', organisation_id: org.body.id } },
  });
  const fid = family.body.id;
  assert.deepEqual(family.body.referral_ids, [created.body.id]);
  assert.equal((await call('GET', `/v1/referrals/${created.body.id}`, 200)).body.status, 'in_trajectory');
  const plan = await call('PUT', `/v1/families/${fid}/plan`, 201, {
    headers: { 'if-none-match': '*' },
    body: {
      family_question: 'Rust in huis', strengths: ['Grootmoeder helpt'],
      goals: [{ id: 'school', title: 'Elke dag naar school', status: 'open' }],
      actions: [{ id: 'a1', goal_id: 'school', description: 'Ochtendritueel', owner: { kind: 'family', name: 'Mama' }, status: 'planned' }],
      participants: [{ role: 'professional', name: 'Begeleider', organisation_id: org.body.id }],
    },
  });
  await call('PUT', `/v1/families/${fid}/plan`, 412, { headers: { 'if-none-match': '*' }, body: { family_question: 'x' } });
  await call('PATCH', `/v1/families/${fid}/plan`, 428, { headers: { 'content-type': 'application/merge-patch+json' }, body: { strengths: ['x'] } });
  const patched = await call('PATCH', `/v1/families/${fid}/plan`, 200, {
    headers: { 'if-match': plan.headers.get('etag'), 'content-type': 'application/merge-patch+json' },
    body: { strengths: ['Grootmoeder helpt', 'Veel humor'] },
  });
  assert.notEqual(patched.headers.get('etag'), plan.headers.get('etag'));
  await call('GET', `/v1/families/${fid}/plan`, 200);
  const versions = await call('GET', `/v1/families/${fid}/plan/versions`, 200);
  assert.equal(versions.body.items.length, 2);
  await call('GET', `/v1/families/${fid}/plan/versions/1`, 200);

  // Statements, export, audit.
  const statement = await call('POST', `/v1/families/${fid}/statements`, 201, { body: { text: 'Onze kant van het verhaal' } });
  assert.equal(statement.headers.get('location'), `/v1/families/${fid}/statements/${statement.body.id}`);
  await call('GET', `/v1/families/${fid}/statements`, 200);
  const exported = await call('GET', `/v1/families/${fid}/export`, 200);
  assert.equal(exported.body.statements.length, 1);
  await call('GET', `/v1/families/${fid}/plan/audit`, 200);
  const audit = await call('GET', `/v1/audit?resource=family&id=${fid}`, 200);
  assert.ok(audit.body.items.length >= 1);

  // Metrics (JSON and CSV), change feed, webhooks.
  const metrics = await call('GET', '/v1/metrics?from=2025-01-01&to=2025-12-31&group_by=region', 200);
  assert.ok(metrics.body.rows.some((r) => r.region === 'gent' && r.referrals_received >= 2), JSON.stringify(metrics.body).slice(0, 500));
  const csv = await call('GET', '/v1/metrics?from=2025-01-01&to=2025-12-31&group_by=region&format=csv', 200);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  assert.match(csv.text.split('\n')[0], /referrals_received/);
  const changes = await call('GET', '/v1/changes?after=0&limit=100', 200);
  assert.ok(changes.body.changes.length >= 3);
  await call('GET', '/v1/webhooks', 200);

  console.log(`container: ${calls} HTTP calls, every answer as documented in openapi/openapi.yaml`);
  compose();
}

// docker/compose.yaml: valid YAML, the image this test built, the same health
// check, and every environment variable the test ran the container with.
function compose() {
  const file = path.join(ROOT, 'docker/compose.yaml');
  const doc = YAML.parse(fs.readFileSync(file, 'utf8'), { strict: true });
  const svc = doc?.services?.api;
  assert.ok(svc, 'compose.yaml has services.api');
  const norm = (name) => name.replace(/^(localhost|docker\.io)\//, '').replace(/^library\//, '').replace(/^([^:]+)$/, '$1:latest');
  assert.equal(norm(svc.image), norm(process.env.G1P_CONTAINER_IMAGE), 'compose names the image the test built');
  assert.equal(svc.build?.dockerfile, 'docker/Dockerfile');
  assert.equal(svc.build?.context, '..');
  const hc = JSON.parse(process.env.G1P_CONTAINER_HEALTHCHECK);
  assert.ok(svc.healthcheck, 'compose.yaml has the api health check');
  // Compose interpolates ${VAR} from the host when it reads the file; $$ is a
  // literal $, left for the container's shell as in the image.
  const unescape = (s) => { assert.doesNotMatch(s, /(^|[^$])\$\{/, `compose would interpolate ${s}: write $$`); return s.replace(/\$\$/g, '$'); };
  assert.deepEqual(svc.healthcheck.test.map(unescape), hc.Test, 'compose runs the image\'s health check command');
  const secs = (s) => { const m = /^(\d+)s$/.exec(String(s)); assert.ok(m, `duration ${s}`); return Number(m[1]) * 1e9; };
  assert.equal(secs(svc.healthcheck.interval), hc.Interval);
  assert.equal(secs(svc.healthcheck.timeout), hc.Timeout);
  assert.equal(secs(svc.healthcheck.start_period), hc.StartPeriod);
  assert.equal(svc.healthcheck.retries, hc.Retries);
  const env = svc.environment || {};
  assert.ok(!Array.isArray(env), 'environment as a map');
  for (const name of process.env.G1P_CONTAINER_ENV.split(' ')) assert.ok(name in env, `compose.yaml sets ${name} (the test ran with it)`);
  assert.ok(secs(svc.stop_grace_period) > 10e9, 'stop_grace_period above the server\'s 10 s drain');
  console.log('container: docker/compose.yaml parses and matches the image, its health check and the environment used');
}

// A request in flight while test.sh stops the container: test.sh holds a
// lock on referrals, so this write waits inside the server (on the database)
// until well after SIGTERM. It must get its complete, documented answer, and
// the referral must be stored. (One request: libmicrohttpd's worker threads
// each serve several connections, so a second request could queue behind the
// first in the same thread, not yet in flight.)
async function load() {
  const t0 = Date.now();
  const res = await api(server, 'POST', '/v1/referrals', { token: ADMIN(), body: referral(`CT-${run}-drain`) });
  assert.equal(res.status, 201, res.text.slice(0, 300));
  console.log(`container: the write in flight at SIGTERM was answered 201 after ${Date.now() - t0} ms`);
  console.log(res.body.id);
}

const mode = process.argv[2];
if (mode === 'check') await check();
else if (mode === 'load') await load();
else throw new Error('usage: api.mjs check | load');
