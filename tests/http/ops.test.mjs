// Operations endpoints, request ids, routing fallbacks and the database
// going away (503 with Retry-After).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, psql, ADMIN_URL } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('ops'); server = await startServer({ db }); });
after(async () => { await server?.stop(); });

test('GET /health answers 200 without a token', async () => {
  const res = await api(server, 'GET', '/health', { token: null });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'ok' });
});

test('GET /ready answers 200 while the database is reachable', async () => {
  const res = await api(server, 'GET', '/ready', { token: null });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'ready' });
});

test('GET /openapi.yaml serves the contract the binary was built with', async () => {
  const res = await api(server, 'GET', '/openapi.yaml', { token: null });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/yaml/);
  assert.match(res.text, /^openapi: 3\.1\.\d/m);
  assert.match(res.text, /\/v1\/regions/);
});

test('X-Request-Id is echoed when safe and generated otherwise', async () => {
  const echoed = await api(server, 'GET', '/health', { token: null, headers: { 'x-request-id': 'abc-123_x.y' } });
  assert.equal(echoed.headers.get('x-request-id'), 'abc-123_x.y');
  const generated = await api(server, 'GET', '/health', { token: null, headers: { 'x-request-id': 'bad id\u00e9' } });
  assert.match(generated.headers.get('x-request-id'), /^[0-9a-f]{24}$/);
  const other = await api(server, 'GET', '/health', { token: null });
  assert.notEqual(other.headers.get('x-request-id'), generated.headers.get('x-request-id'));
});

test('unknown paths are 404 problems, known paths with another method 405 with Allow', async () => {
  assertProblem(await api(server, 'GET', '/nope', { token: null }), 404);
  assertProblem(await api(server, 'GET', '/v1/nope'), 404);
  const res = await api(server, 'DELETE', '/v1/regions/gent');
  assertProblem(res, 405);
  assert.equal(res.headers.get('allow'), 'GET, PATCH');
  assertProblem(await api(server, 'POST', '/health', { token: null }), 405);
});

test('a /v1 path without a token is 401 before anything else', async () => {
  const res = await api(server, 'GET', '/v1/nope', { token: null });
  assertProblem(res, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer');
});

test('database gone: reads answer 503 with Retry-After, /ready 503, /health stays 200', async () => {
  const name = new URL(db).pathname.slice(1);
  psql(ADMIN_URL, `DROP DATABASE ${name} WITH (FORCE)`);
  const res = await api(server, 'GET', '/v1/regions/gent');
  assertProblem(res, 503);
  assert.ok(Number(res.headers.get('retry-after')) > 0);
  assertProblem(await api(server, 'GET', '/ready', { token: null }), 503);
  assert.equal((await api(server, 'GET', '/health', { token: null })).status, 200);
});
