// The audit trail: every successful write leaves one row in the same
// transaction (who, when, what, version, request id), failed writes and
// idempotent repeats leave none, plan reads are logged for the family, and
// nobody can change the trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('audit'); server = await startServer({ db }); });
after(async () => { await server?.stop(); });

const admin = () => token({ sub: 'auditor', scope: 'admin', regions: ['*'] });
const coach = () => token({ sub: 'coach-x', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['gent'] });
const rows = () => Number(psql(db, 'SELECT count(*) FROM audit_log'));

async function trail(query) {
  const res = await api(server, 'GET', `/v1/audit?${query}`, { token: admin() });
  assert.equal(res.status, 200, res.text);
  return res.body.items;
}

test('each write records who, what, which version and the request id', async () => {
  const region = await api(server, 'POST', '/v1/regions', { token: admin(), body: { code: 'audit-land', name: 'Audit', province: 'Brussel' }, headers: { 'x-request-id': 'req-region-1' } });
  const [created] = await trail('resource=region&id=audit-land');
  assert.deepEqual({ ...created, seq: 0, at: '' }, { seq: 0, at: '', sub: 'auditor', org: null, action: 'create', resource: 'region', resource_id: 'audit-land', version: 1, request_id: 'req-region-1' });
  await api(server, 'PATCH', '/v1/regions/audit-land', { token: admin(), body: { name: 'Audit 2' } });
  const regionRows = await trail('resource=region&id=audit-land');
  assert.deepEqual(regionRows.map((a) => [a.action, a.version]), [['create', 1], ['update', 2]]);
  assert.equal(regionRows[1].request_id.length, 24);
  assert.ok(region.status === 201);

  const ref = await api(server, 'POST', '/v1/referrals', { token: coach(), body: { region: 'gent', referrer: { kind: 'self' }, external_ref: 'A-1', received_on: '2025-01-06', question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } } });
  const id = ref.body.id;
  await api(server, 'POST', `/v1/referrals/${id}/deadline-pauses`, { token: coach(), body: { from: '2025-01-08', to: '2025-01-09', reason: 'other' } });
  const contact = await api(server, 'POST', `/v1/referrals/${id}/first-contact`, { token: coach(), body: { held_on: '2025-01-20', mode: 'home' }, headers: { 'x-request-id': 'contact-1' } });
  const fam = await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: id } });
  const referralRows = await trail(`resource=referral&id=${id}`);
  assert.deepEqual(referralRows.map((a) => [a.action, a.version]), [['create', 1], ['pause_create', 2], ['first_contact', 3], ['status_change', 4]]);
  assert.ok(referralRows.every((a) => a.sub === 'coach-x'));
  assert.equal(referralRows[2].request_id, 'contact-1');
  assert.equal(contact.body.version, 3);

  const fid = fam.body.id;
  await api(server, 'PUT', `/v1/families/${fid}/plan`, { token: coach(), body: { family_question: 'Q' }, headers: { 'if-none-match': '*' } });
  await api(server, 'PATCH', `/v1/families/${fid}/plan`, { token: coach(), body: { strengths: ['s'] }, headers: { 'if-match': '"1"' } });
  const planRows = await trail(`resource=plan&id=${fid}`);
  assert.deepEqual(planRows.map((a) => [a.action, a.version]), [['create', 1], ['update', 2]]);
  assert.deepEqual((await trail(`resource=family&id=${fid}`)).map((a) => a.action), ['create']);
});

test('failed writes and idempotent repeats leave no audit row', async () => {
  const n = rows();
  assertProblem(await api(server, 'POST', '/v1/regions', { token: admin(), body: { code: 'BAD' } }), 422);
  assertProblem(await api(server, 'POST', '/v1/regions', { token: admin(), body: { code: 'gent', name: 'G', province: 'Limburg' } }), 409);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coach(), body: { region: 'gent' } }), 422);
  assert.equal(rows(), n);
  const body = { region: 'gent', referrer: { kind: 'self' }, external_ref: 'B-1', question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } };
  assert.equal((await api(server, 'POST', '/v1/referrals', { token: coach(), body })).status, 201);
  assert.equal((await api(server, 'POST', '/v1/referrals', { token: coach(), body })).status, 200);
  assert.equal(rows(), n + 1);
  // batch: created items are audited, failed and repeated ones are not
  const batch = await api(server, 'POST', '/v1/referrals:batch', { token: coach(), body: { items: [body, { ...body, external_ref: 'B-2' }, { region: 'x' }] } });
  assert.deepEqual(batch.body.results.map((r) => r.status), [200, 201, 422]);
  assert.equal(rows(), n + 2);
});

test('the trail cannot be changed, through the API or in the database', async () => {
  assert.throws(() => psql(db, "UPDATE audit_log SET sub = 'someone-else'"), /immutable/);
  assert.throws(() => psql(db, 'DELETE FROM audit_log'), /immutable/);
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) assertProblem(await api(server, m, '/v1/audit', { token: admin(), body: {} }), 405);
});

test('only admins read the trail; filters and pagination', async () => {
  assertProblem(await api(server, 'GET', '/v1/audit', { token: coach() }), 403);
  assertProblem(await api(server, 'GET', '/v1/audit', { token: token({ scope: 'plan:family', family: '6f1c1f4e-4a1b-4c55-9a57-1b0c7d2f8e10' }) }), 403);
  const bySub = await trail('sub=coach-x&limit=500');
  assert.ok(bySub.length > 3 && bySub.every((a) => a.sub === 'coach-x'));
  const today = psql(db, "SELECT (now() AT TIME ZONE 'Europe/Brussels')::date");
  assert.equal((await trail(`from=${today}&to=${today}&limit=500`)).length, rows());
  assert.equal((await trail('to=2020-01-01')).length, 0);
  const seen = [];
  let cursor = null;
  do {
    const res = await api(server, 'GET', `/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: admin() });
    seen.push(...res.body.items.map((a) => a.seq));
    cursor = res.body.next_cursor;
  } while (cursor);
  assert.equal(seen.length, rows());
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  for (const q of ['resource=plans', 'from=2025-02-30', 'to=x', 'cursor=abc', `id=${'x'.repeat(201)}`, `cursor=${Buffer.from('99999999999999999999').toString('base64url')}`]) {
    assertProblem(await api(server, 'GET', `/v1/audit?${q}`, { token: admin() }), 400);
  }
});

test("a family sees who looked at or changed its plan", async () => {
  const fam = await api(server, 'POST', '/v1/families', { token: coach(), body: { region: 'gent', label: 'Gezin A.' } });
  const fid = fam.body.id;
  await api(server, 'PUT', `/v1/families/${fid}/plan`, { token: coach(), body: { family_question: 'Q' }, headers: { 'if-none-match': '*' } });
  await api(server, 'GET', `/v1/families/${fid}/plan`, { token: token({ sub: 'reader-1', scope: 'plans:read', regions: ['gent'] }) });
  await api(server, 'GET', `/v1/families/${fid}/plan/versions/1`, { token: token({ sub: 'reader-2', scope: 'plans:read', regions: ['gent'], org: undefined }) });
  const familyToken = token({ sub: 'the-family', scope: 'plan:family', family: fid, regions: undefined });
  await api(server, 'GET', `/v1/families/${fid}/plan`, { token: familyToken });
  const log = await api(server, 'GET', `/v1/families/${fid}/plan/audit`, { token: familyToken });
  assert.equal(log.status, 200);
  assert.deepEqual(log.body.items.map((a) => [a.sub, a.action]), [['coach-x', 'create'], ['reader-1', 'read'], ['reader-2', 'read'], ['the-family', 'read']]);
  const other = await api(server, 'POST', '/v1/families', { token: coach(), body: { region: 'gent', label: 'Gezin B.' } });
  assertProblem(await api(server, 'GET', `/v1/families/${other.body.id}/plan/audit`, { token: familyToken }), 404);
  assertProblem(await api(server, 'GET', `/v1/families/${fid}/plan/audit`, { token: token({ scope: 'plans:read', regions: ['meetjesland'] }) }), 404);
  // a read that finds nothing is not logged
  const before = rows();
  await api(server, 'GET', `/v1/families/${other.body.id}/plan`, { token: coach() });
  assert.equal(rows(), before);
});
