// Browser clients: CORS headers on every answer to an allowed origin (errors,
// 401 and 304 included), preflights without a token, nothing for other
// origins, Vary: Origin whenever CORS is on; conditional reads (304). The
// same rules in a real browser: browser.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql, ADMIN_URL } from './lib.mjs';

const APP = 'https://coach.example.be';
const OTHER = 'https://evil.example.com';
let server, plain, db;
before(async () => {
  db = freshDb('cors');
  server = await startServer({ db, env: { CORS_ALLOWED_ORIGINS: `${APP}, http://localhost:5173` } });
  plain = await startServer({ db });
});
after(async () => { await server?.stop(); await plain?.stop(); });

const from = (origin, opts = {}) => ({ ...opts, headers: { origin, ...(opts.headers || {}) } });
function assertCors(res, origin) {
  assert.equal(res.headers.get('access-control-allow-origin'), origin, `status ${res.status}`);
  assert.equal(res.headers.get('access-control-expose-headers'), 'ETag, Location, X-Request-Id, Retry-After, WWW-Authenticate');
  assert.match(res.headers.get('vary') || '', /Origin/);
  assert.equal(res.headers.get('access-control-allow-credentials'), null);
}

test('a preflight from an allowed origin answers 204 without a token, with the path\'s methods', async () => {
  const res = await api(server, 'OPTIONS', '/v1/families/00000000-0000-4000-8000-000000000000/plan', from(APP, {
    token: null, headers: { 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization, if-match, content-type' },
  }));
  assert.equal(res.status, 204);
  assert.equal(res.text, '');
  assert.equal(res.headers.get('access-control-allow-origin'), APP);
  assert.equal(res.headers.get('access-control-allow-methods'), 'GET, PUT, PATCH');
  assert.equal(res.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Accept');
  assert.equal(res.headers.get('access-control-max-age'), '600');
  assert.match(res.headers.get('vary'), /Origin/);
  assert.equal(res.headers.get('allow'), 'GET, PUT, PATCH');
  const batch = await api(server, 'OPTIONS', '/v1/referrals:batch', from('http://localhost:5173', { token: null, headers: { 'access-control-request-method': 'POST' } }));
  assert.equal(batch.status, 204);
  assert.equal(batch.headers.get('access-control-allow-methods'), 'POST');
  assert.equal(batch.headers.get('access-control-allow-origin'), 'http://localhost:5173');
});

test('a preflight from another origin gets no CORS headers; an unknown path is 404', async () => {
  const res = await api(server, 'OPTIONS', '/v1/regions', from(OTHER, { token: null, headers: { 'access-control-request-method': 'GET' } }));
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  assert.equal(res.headers.get('access-control-allow-methods'), null);
  assert.match(res.headers.get('vary'), /Origin/);
  assert.equal(res.headers.get('allow'), 'GET, POST');
  const none = await api(server, 'OPTIONS', '/v1/nothing-here', from(APP, { token: null, headers: { 'access-control-request-method': 'GET' } }));
  assertProblem(none, 404);
  assertCors(none, APP);
});

test('every answer to an allowed origin carries the CORS headers: 2xx, 304, 401, 403, 404, 412, 413, 415, 422', async () => {
  const listed = await api(server, 'GET', '/v1/regions', from(APP));
  assert.equal(listed.status, 200);
  assertCors(listed, APP);
  const created = await api(server, 'POST', '/v1/organisations', from(APP, { body: { name: 'CAW CORS', sector: 'caw', regions: ['gent'] } }));
  assert.equal(created.status, 201);
  assertCors(created, APP);
  const one = await api(server, 'GET', `/v1/organisations/${created.body.id}`, from(APP, { headers: { 'if-none-match': '"1"' } }));
  assert.equal(one.status, 304);
  assertCors(one, APP);
  const cases = [
    [401, await api(server, 'GET', '/v1/regions', from(APP, { token: null }))],
    [403, await api(server, 'POST', '/v1/regions', from(APP, { token: token({ scope: 'plans:read' }), body: { code: 'x-y', name: 'X', province: 'Antwerpen' } }))],
    [404, await api(server, 'GET', '/v1/regions/nergens', from(APP))],
    [412, await api(server, 'PATCH', `/v1/organisations/${created.body.id}`, from(APP, { headers: { 'if-match': '"7"' }, body: { name: 'X' } }))],
    [413, await api(server, 'POST', '/v1/organisations', from(APP, { raw: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/json' } }))],
    [415, await api(server, 'POST', '/v1/organisations', from(APP, { raw: '{}', headers: { 'content-type': 'text/plain' } }))],
    [422, await api(server, 'POST', '/v1/organisations', from(APP, { body: { name: '' } }))],
  ];
  for (const [status, res] of cases) {
    assertProblem(res, status);
    assertCors(res, APP);
  }
  assert.equal(cases[0][1].headers.get('www-authenticate'), 'Bearer');
});

test('other origins and requests without Origin get no CORS headers; without CORS_ALLOWED_ORIGINS not even Vary', async () => {
  for (const res of [await api(server, 'GET', '/v1/regions', from(OTHER)), await api(server, 'GET', '/v1/regions'), await api(server, 'GET', '/v1/regions', from('null'))]) {
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-expose-headers'), null);
    assert.match(res.headers.get('vary'), /Origin/);
  }
  const off = await api(plain, 'GET', '/v1/regions', from(APP));
  assert.equal(off.headers.get('access-control-allow-origin'), null);
  assert.equal(off.headers.get('vary'), null);
  const pre = await api(plain, 'OPTIONS', '/v1/regions', from(APP, { token: null, headers: { 'access-control-request-method': 'GET' } }));
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  // An origin is compared exactly: a longer host or another scheme is another origin.
  for (const o of [`${APP}.evil.com`, 'http://coach.example.be', `${APP}:443`, APP.toUpperCase()]) {
    assert.equal((await api(server, 'GET', '/v1/regions', from(o))).headers.get('access-control-allow-origin'), null, o);
  }
});

test('conditional reads: If-None-Match with the current version is 304 without a body, a changed resource 200', async () => {
  const region = await api(server, 'GET', '/v1/regions/gent');
  const etag = region.headers.get('etag');
  for (const inm of [etag, `W/${etag}`, `"999", ${etag}`, '*']) {
    const res = await api(server, 'GET', '/v1/regions/gent', { headers: { 'if-none-match': inm } });
    assert.equal(res.status, 304, inm);
    assert.equal(res.text, '');
    assert.equal(res.headers.get('etag'), etag);
  }
  assert.equal((await api(server, 'GET', '/v1/regions/gent', { headers: { 'if-none-match': '"999"' } })).status, 200);
  await api(server, 'PATCH', '/v1/regions/gent', { headers: { 'if-match': etag }, body: { annual_family_target: 210 } });
  const changed = await api(server, 'GET', '/v1/regions/gent', { headers: { 'if-none-match': etag } });
  assert.equal(changed.status, 200);
  assert.equal(changed.body.annual_family_target, 210);
  // The plan and its versions too; lists are never 304.
  const fam = await api(server, 'POST', '/v1/families', { body: { region: 'gent', label: 'Gezin C.' } });
  const plan = await api(server, 'PUT', `/v1/families/${fam.body.id}/plan`, { headers: { 'if-none-match': '*' }, body: { family_question: 'Rust' } });
  const read = await api(server, 'GET', `/v1/families/${fam.body.id}/plan`, { headers: { 'if-none-match': plan.headers.get('etag') } });
  assert.equal(read.status, 304);
  assert.equal((await api(server, 'GET', `/v1/families/${fam.body.id}/plan/versions/1`, { headers: { 'if-none-match': '"1"' } })).status, 304);
  assert.equal((await api(server, 'GET', '/v1/regions', { headers: { 'if-none-match': '*' } })).status, 200);
  assert.equal((await api(server, 'GET', `/v1/families/${fam.body.id}`, { headers: { 'if-none-match': '"1"' } })).status, 304);
});

test('503 while the database is gone still carries the CORS headers', async () => {
  const name = 't_cors_gone_' + process.pid;
  psql(ADMIN_URL, `CREATE DATABASE ${name}`);
  const s = await startServer({ db: ADMIN_URL.replace(/^postgresql:\/\/\/[^?]*/, `postgresql:///${name}`), env: { CORS_ALLOWED_ORIGINS: APP } });
  try {
    psql(ADMIN_URL, `DROP DATABASE ${name} WITH (FORCE)`);
    const res = await api(s, 'GET', '/v1/regions/gent', from(APP));
    assertProblem(res, 503);
    assertCors(res, APP);
  } finally { await s.stop(); }
});
