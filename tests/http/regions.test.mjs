// Regions: seeded reference data, region scoping of reads, admin writes with
// validation, If-Match, and hostile bodies that must store nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('regions'); server = await startServer({ db, env: { MAX_BODY_BYTES: '4096' } }); });
after(async () => { await server?.stop(); });

const SEEDED = ['gent', 'meetjesland', 'oost-brabant', 'plan-trekkers', 'voor-en-noorderkempen', 'waas-en-dender'];
const gentCoach = () => token({ sub: 'coach-gent', scope: 'plans:read', regions: ['gent'] });
const count = () => Number(psql(db, 'SELECT count(*) FROM regions'));

test('the six partnerships are seeded and listed in code order', async () => {
  const res = await api(server, 'GET', '/v1/regions');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.items.map((r) => r.code), SEEDED);
  assert.equal(res.body.next_cursor, null);
  const gent = res.body.items[0];
  assert.equal(gent.annual_family_target, 200);
  assert.equal(gent.version, 1);
  assert.equal(gent.province, 'Oost-Vlaanderen');
});

test('keyset pagination walks every region exactly once', async () => {
  const seen = [];
  let cursor = null;
  do {
    const res = await api(server, 'GET', `/v1/regions?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200);
    assert.ok(res.body.items.length <= 4);
    seen.push(...res.body.items.map((r) => r.code));
    cursor = res.body.next_cursor;
  } while (cursor);
  assert.deepEqual(seen.filter((c) => SEEDED.includes(c)), SEEDED);
  assert.equal(new Set(seen).size, seen.length);
});

test('bad paging parameters are 400', async () => {
  for (const q of ['limit=0', 'limit=501', 'limit=abc', 'limit=', 'cursor=%%%', 'cursor=!!', 'cursor=Li4vZXRj']) {
    assertProblem(await api(server, 'GET', `/v1/regions?${q}`), 400);
  }
});

test('a token sees only its own regions; others are 404', async () => {
  const res = await api(server, 'GET', '/v1/regions', { token: gentCoach() });
  assert.deepEqual(res.body.items.map((r) => r.code), ['gent']);
  assert.equal((await api(server, 'GET', '/v1/regions/gent', { token: gentCoach() })).status, 200);
  assertProblem(await api(server, 'GET', '/v1/regions/meetjesland', { token: gentCoach() }), 404);
  const none = await api(server, 'GET', '/v1/regions', { token: token({ regions: undefined, scope: 'plans:read' }) });
  assert.deepEqual(none.body.items, []);
});

test('GET one region carries an ETag; unknown and malformed codes are 404', async () => {
  const res = await api(server, 'GET', '/v1/regions/meetjesland');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('etag'), `"${res.body.version}"`);
  assertProblem(await api(server, 'GET', '/v1/regions/nowhere'), 404);
  assertProblem(await api(server, 'GET', '/v1/regions/NOT..valid'), 404);
  assertProblem(await api(server, 'GET', `/v1/regions/${'a'.repeat(300)}`), 404);
});

test('admin creates a region: 201, Location, defaults', async () => {
  const res = await api(server, 'POST', '/v1/regions', { body: { code: 'brugge', name: 'Regio Brugge', province: 'West-Vlaanderen' } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('location'), '/v1/regions/brugge');
  assert.equal(res.headers.get('etag'), '"1"');
  assert.equal(res.body.annual_family_target, 200);
  assert.equal(res.body.core_partner, null);
  const again = await api(server, 'GET', '/v1/regions/brugge');
  assert.deepEqual(again.body, res.body);
});

test('creating an existing code is 409 and changes nothing', async () => {
  const before = psql(db, "SELECT name FROM regions WHERE code = 'gent'");
  assertProblem(await api(server, 'POST', '/v1/regions', { body: { code: 'gent', name: 'Other', province: 'Limburg' } }), 409);
  assert.equal(psql(db, "SELECT name FROM regions WHERE code = 'gent'"), before);
});

test('every bad field is reported at once (422) and nothing is stored', async () => {
  const n = count();
  const res = await api(server, 'POST', '/v1/regions', {
    body: { code: 'Bad Code', name: '', province: 'Wallonie', annual_family_target: -1, core_partner: 'not-a-uuid', extra: true },
  });
  assertProblem(res, 422, ['/code', '/name', '/province', '/annual_family_target', '/core_partner', '/extra']);
  assertProblem(await api(server, 'POST', '/v1/regions', { body: {} }), 422, ['/code', '/name', '/province']);
  assertProblem(await api(server, 'POST', '/v1/regions', { body: { code: 'x1', name: 7, province: null, annual_family_target: '200' } }), 422, ['/name', '/province', '/annual_family_target']);
  assertProblem(await api(server, 'POST', '/v1/regions', { body: { code: 'x2', name: 'X', province: 'Limburg', core_partner: '00000000-0000-4000-8000-000000000000' } }), 422, ['/core_partner']);
  assertProblem(await api(server, 'POST', '/v1/regions', { body: [1, 2] }), 422, ['']);
  assert.equal(count(), n);
});

test('malformed JSON is 400, wrong content type 415, oversized body 413; nothing stored', async () => {
  const n = count();
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: '{"code": "x4",', headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: '{"code":"x5","code":"x6","name":"X","province":"Limburg"}', headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: '', headers: { 'content-type': 'application/json' } }), 400);
  // NUL is refused by the parser itself, so no C string can ever be cut short by one
  assertProblem(await api(server, 'POST', '/v1/regions', { body: { code: 'x3', name: 'a\u0000b', province: 'Limburg' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: 'code=x7', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: '{"code":"x8"}', headers: { 'content-type': 'text/plain' } }), 415);
  assertProblem(await api(server, 'POST', '/v1/regions', { raw: '{"code":"x9"}', headers: { 'content-type': 'application/json; charset=latin1' } }), 415);
  const big = { code: 'big', name: 'x'.repeat(5000), province: 'Limburg' };
  assertProblem(await api(server, 'POST', '/v1/regions', { body: big }), 413);
  assert.equal(count(), n);
});

test('SQL-looking text is stored verbatim', async () => {
  const name = "Regio'); DROP TABLE regions; --";
  const res = await api(server, 'POST', '/v1/regions', { body: { code: 'sql-test', name, province: 'Brussel' } });
  assert.equal(res.status, 201);
  assert.equal(res.body.name, name);
  assert.equal(psql(db, "SELECT name FROM regions WHERE code = 'sql-test'"), name);
});

test('PATCH updates fields, bumps version and honours If-Match', async () => {
  const org = await api(server, 'POST', '/v1/organisations', { body: { name: 'OCMW Genk', sector: 'ocmw', regions: ['plan-trekkers'] } });
  assert.equal(org.status, 201);
  const cur = await api(server, 'GET', '/v1/regions/plan-trekkers');
  const v = cur.body.version;
  const res = await api(server, 'PATCH', '/v1/regions/plan-trekkers', {
    body: { annual_family_target: 250, core_partner: org.body.id },
    headers: { 'content-type': 'application/merge-patch+json', 'if-match': `"${v}"` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.version, v + 1);
  assert.equal(res.body.annual_family_target, 250);
  assert.equal(res.body.core_partner, org.body.id);
  assert.equal(res.body.name, cur.body.name);
  assert.equal(res.headers.get('etag'), `"${v + 1}"`);
  assert.ok(res.body.updated_at > cur.body.updated_at);
  assert.equal(res.body.created_at, cur.body.created_at);

  const stale = await api(server, 'PATCH', '/v1/regions/plan-trekkers', { body: { name: 'Lost update' }, headers: { 'if-match': `"${v}"` } });
  assertProblem(stale, 412);
  assert.equal(stale.body.current_version, v + 1);
  assert.equal(psql(db, "SELECT name FROM regions WHERE code = 'plan-trekkers'"), cur.body.name);

  const cleared = await api(server, 'PATCH', '/v1/regions/plan-trekkers', { body: { core_partner: null } });
  assert.equal(cleared.status, 200);
  assert.equal(cleared.body.core_partner, null);

  // the organisation referenced as core partner cannot be deleted while it is one
  await api(server, 'PATCH', '/v1/regions/plan-trekkers', { body: { core_partner: org.body.id } });
  assertProblem(await api(server, 'DELETE', `/v1/organisations/${org.body.id}`), 409);
});

test('PATCH rejects a code change, unknown fields and nulls for required fields', async () => {
  assertProblem(await api(server, 'PATCH', '/v1/regions/gent', { body: { code: 'gent2', name: null, foo: 1 } }), 422, ['/code', '/name', '/foo']);
  assertProblem(await api(server, 'PATCH', '/v1/regions/nowhere', { body: { name: 'X' } }), 404);
  assert.equal(psql(db, "SELECT count(*) FROM regions WHERE code = 'gent2'"), '0');
});
