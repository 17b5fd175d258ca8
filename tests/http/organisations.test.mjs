// Partner organisations: the directory every staff token reads and admins
// maintain; KBO mod-97, sector enum, region membership, pagination, delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('organisations'); server = await startServer({ db }); });
after(async () => { await server?.stop(); });

const count = () => Number(psql(db, 'SELECT count(*) FROM organisations'));
const coach = () => token({ sub: 'coach', scope: 'plans:read', regions: ['gent'] });

// Makes a valid KBO number from 8 digits.
function kbo(first8) {
  const n = Number(first8);
  return `${first8}${String(97 - (n % 97)).padStart(2, '0')}`;
}

test('admin creates an organisation: 201 with Location, ETag and regions', async () => {
  const res = await api(server, 'POST', '/v1/organisations', {
    body: { name: 'CAW Oost-Vlaanderen', sector: 'caw', kbo_number: kbo('04123456'), regions: ['meetjesland', 'gent'], email: 'info@caw.be' },
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('location'), `/v1/organisations/${res.body.id}`);
  assert.equal(res.headers.get('etag'), '"1"');
  assert.deepEqual(res.body.regions, ['gent', 'meetjesland']);
  assert.equal(res.body.kbo_number, kbo('04123456'));
  assert.equal(psql(db, `SELECT string_agg(region_code, ',' ORDER BY region_code) FROM organisation_regions WHERE organisation_id = '${res.body.id}'`), 'gent,meetjesland');
  const got = await api(server, 'GET', `/v1/organisations/${res.body.id}`, { token: coach() });
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, res.body);
});

test('minimal organisation: optional fields default to null and []', async () => {
  const res = await api(server, 'POST', '/v1/organisations', { body: { name: 'Basisschool De Regenboog', sector: 'onderwijs' } });
  assert.equal(res.status, 201);
  assert.equal(res.body.kbo_number, null);
  assert.equal(res.body.email, null);
  assert.deepEqual(res.body.regions, []);
});

test('KBO numbers are validated (mod-97, first digit, length) and unique', async () => {
  const n = count();
  for (const bad of ['0123456748', '2123456749', '012345674', '01234567499', '01234567a9', '']) {
    assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'X', sector: 'cgg', kbo_number: bad } }), 422, ['/kbo_number']);
  }
  assert.equal(count(), n);
  const first = await api(server, 'POST', '/v1/organisations', { body: { name: 'CGG Eclips', sector: 'cgg', kbo_number: kbo('08765432') } });
  assert.equal(first.status, 201);
  const dup = await api(server, 'POST', '/v1/organisations', { body: { name: 'Copy', sector: 'cgg', kbo_number: kbo('08765432') } });
  assertProblem(dup, 409);
  assert.match(dup.body.detail, /KBO/);
  assert.equal(count(), n + 1);
});

test('every bad field at once; unknown regions named by index; nothing stored', async () => {
  const n = count();
  assertProblem(await api(server, 'POST', '/v1/organisations', {
    body: { name: 'x'.repeat(201), sector: 'hospital', email: 'no-at-sign', regions: ['gent', 'gent', 'Bad'], id: 'x' },
  }), 422, ['/name', '/sector', '/email', '/regions/1', '/regions/2', '/id']);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'X', sector: 'caw', regions: ['gent', 'atlantis', 'mars'] } }), 422, ['/regions/1', '/regions/2']);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'X', sector: 'caw', regions: 'gent' } }), 422, ['/regions']);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'Line\nbreak', sector: 'caw' } }), 422, ['/name']);
  assert.equal(count(), n);
});

test('hostile bodies: deep nesting, a 900 KB string, invalid UTF-8; the server stays up', async () => {
  const n = count();
  const nested = '['.repeat(10000) + ']'.repeat(10000);
  assertProblem(await api(server, 'POST', '/v1/organisations', { raw: nested, headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'x'.repeat(900000), sector: 'caw' } }), 422, ['/name']);
  assertProblem(await api(server, 'POST', '/v1/organisations', { raw: Buffer.from('{"name":"\xc3\x28","sector":"caw"}', 'latin1'), headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'x'.repeat(1100000), sector: 'caw' } }), 413);
  assert.equal(count(), n);
  assert.equal((await api(server, 'GET', '/health', { token: null })).status, 200);
});

test('list: keyset pagination by name is complete and stable; filters by region and sector', async () => {
  for (let i = 0; i < 60; i++) {
    const res = await api(server, 'POST', '/v1/organisations', { body: { name: `Partner ${String(i).padStart(2, '0')}`, sector: i % 2 ? 'clb' : 'vaph', regions: i % 3 ? ['gent'] : ['meetjesland'] } });
    assert.equal(res.status, 201);
  }
  const all = [];
  let cursor = null, pages = 0;
  do {
    const res = await api(server, 'GET', `/v1/organisations?limit=25${cursor ? `&cursor=${cursor}` : ''}`, { token: coach() });
    assert.equal(res.status, 200);
    all.push(...res.body.items);
    cursor = res.body.next_cursor;
    pages++;
  } while (cursor);
  assert.equal(all.length, count());
  assert.equal(new Set(all.map((o) => o.id)).size, all.length);
  const names = all.map((o) => o.name);
  assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assert.ok(pages >= 3);

  const defaultPage = await api(server, 'GET', '/v1/organisations');
  assert.equal(defaultPage.body.items.length, 50);
  assert.ok(defaultPage.body.next_cursor);

  const meetjes = await api(server, 'GET', '/v1/organisations?region=meetjesland&sector=vaph&limit=500');
  assert.ok(meetjes.body.items.length > 0);
  for (const o of meetjes.body.items) {
    assert.ok(o.regions.includes('meetjesland'));
    assert.equal(o.sector, 'vaph');
  }
  assertProblem(await api(server, 'GET', '/v1/organisations?sector=hospital'), 400);
  assertProblem(await api(server, 'GET', '/v1/organisations?region=Not%20A%20Code'), 400);
  assertProblem(await api(server, 'GET', '/v1/organisations?cursor=bm8tc2VwYXJhdG9y'), 400);
});

test('PATCH: merge patch replaces regions, bumps version, honours If-Match', async () => {
  const created = await api(server, 'POST', '/v1/organisations', { body: { name: 'Kind en Gezin Gent', sector: 'kind_en_gezin', regions: ['gent'], email: 'gent@kindengezin.be' } });
  const id = created.body.id;
  const res = await api(server, 'PATCH', `/v1/organisations/${id}`, {
    body: { regions: ['waas-en-dender'], email: null },
    headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.version, 2);
  assert.deepEqual(res.body.regions, ['waas-en-dender']);
  assert.equal(res.body.email, null);
  assert.equal(res.body.name, 'Kind en Gezin Gent');
  const stale = await api(server, 'PATCH', `/v1/organisations/${id}`, { body: { name: 'Lost' }, headers: { 'if-match': '"1"' } });
  assertProblem(stale, 412);
  assert.equal(stale.body.current_version, 2);
  assertProblem(await api(server, 'PATCH', `/v1/organisations/${id}`, { body: { sector: null, regions: ['nope'] } }), 422, ['/sector']);
  assertProblem(await api(server, 'PATCH', `/v1/organisations/${id}`, { body: { regions: ['nope'] } }), 422, ['/regions/0']);
  assert.equal(psql(db, `SELECT version FROM organisations WHERE id = '${id}'`), '2');
  const same = await api(server, 'PATCH', `/v1/organisations/${id}`, { body: {} });
  assert.equal(same.body.version, 2, 'an empty patch changes nothing');
});

test('DELETE: 204, then 404; If-Match honoured', async () => {
  const created = await api(server, 'POST', '/v1/organisations', { body: { name: 'Tijdelijk', sector: 'other', regions: ['gent'] } });
  const id = created.body.id;
  assertProblem(await api(server, 'DELETE', `/v1/organisations/${id}`, { headers: { 'if-match': '"7"' } }), 412);
  const res = await api(server, 'DELETE', `/v1/organisations/${id}`, { headers: { 'if-match': '"1"' } });
  assert.equal(res.status, 204);
  assert.equal(res.text, '');
  assertProblem(await api(server, 'GET', `/v1/organisations/${id}`), 404);
  assertProblem(await api(server, 'DELETE', `/v1/organisations/${id}`), 404);
  assert.equal(psql(db, `SELECT count(*) FROM organisation_regions WHERE organisation_id = '${id}'`), '0');
});

test('ids that are not UUIDs name nothing: 404', async () => {
  for (const id of ['123', 'not-a-uuid', "1' OR '1'='1", '00000000-0000-4000-8000-00000000000g']) {
    assertProblem(await api(server, 'GET', `/v1/organisations/${encodeURIComponent(id)}`), 404);
  }
  assertProblem(await api(server, 'GET', '/v1/organisations/00000000-0000-4000-8000-000000000000'), 404);
});

test('non-admin tokens read but cannot write (403), nothing stored', async () => {
  const n = count();
  assertProblem(await api(server, 'POST', '/v1/organisations', { token: coach(), body: { name: 'X', sector: 'caw' } }), 403);
  const any = (await api(server, 'GET', '/v1/organisations?limit=1', { token: coach() })).body.items[0];
  assertProblem(await api(server, 'PATCH', `/v1/organisations/${any.id}`, { token: coach(), body: { name: 'Y' } }), 403);
  assertProblem(await api(server, 'DELETE', `/v1/organisations/${any.id}`, { token: coach() }), 403);
  assert.equal(count(), n);
});
