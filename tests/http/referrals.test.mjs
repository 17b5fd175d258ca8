// Referrals: idempotent intake (single, batch, concurrent), validation and
// hostile input, region and organisation scoping, the lifecycle and the
// first contact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db, orgA, orgB;
before(async () => {
  db = freshDb('referrals');
  server = await startServer({ db });
  orgA = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW Gent', sector: 'caw', regions: ['gent'] } })).body.id;
  orgB = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CLB Gent', sector: 'clb', regions: ['gent'] } })).body.id;
});
after(async () => { await server?.stop(); });

const count = () => Number(psql(db, 'SELECT count(*) FROM referrals'));
const partner = (org, claims = {}) => token({ sub: `system-${org}`, scope: 'referrals:read referrals:write', regions: ['gent'], org, ...claims });
const coordinator = (regions = ['gent']) => token({ sub: 'coordinator', scope: 'referrals:read referrals:write', regions });
let seq = 0;
const referral = (extra = {}) => ({
  region: 'gent',
  referrer: { kind: 'school', organisation_id: null },
  external_ref: `EXT-${++seq}`,
  received_on: '2025-01-31',
  question: 'Moeder zoekt hulp bij opvoeding; school maakt zich zorgen.',
  question_kind: 'consult',
  family: { label: 'Gezin J.', postcode: '9000', children: [{ birth_year: 2014 }] },
  ...extra,
});

test('POST creates a referral: 201, Location, ETag, computed deadline', async () => {
  const res = await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral() });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('location'), `/v1/referrals/${res.body.id}`);
  assert.equal(res.headers.get('etag'), '"1"');
  assert.equal(res.body.status, 'received');
  assert.equal(res.body.first_contact_due_original, '2025-02-28');
  assert.equal(res.body.first_contact_due, '2025-02-28');
  assert.deepEqual(res.body.family, { label: 'Gezin J.', postcode: '9000', children: [{ birth_year: 2014 }] });
  const got = await api(server, 'GET', `/v1/referrals/${res.body.id}`, { token: coordinator() });
  assert.deepEqual(got.body, res.body);
});

test('received_on defaults to today in Europe/Brussels', async () => {
  const body = referral();
  delete body.received_on;
  const res = await api(server, 'POST', '/v1/referrals', { token: coordinator(), body });
  assert.equal(res.status, 201);
  assert.equal(res.body.received_on, psql(db, "SELECT (now() AT TIME ZONE 'Europe/Brussels')::date"));
});

test('the same push again answers 200 with the same referral; different content 409; nothing duplicated', async () => {
  const body = referral({ referrer: { kind: 'organisation', organisation_id: orgA } });
  const first = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body });
  assert.equal(first.status, 201);
  const n = count();
  const again = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body });
  assert.equal(again.status, 200);
  assert.equal(again.body.id, first.body.id);
  // the referrer organisation left implicit is the same content
  const implicit = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body: { ...body, referrer: { kind: 'organisation' } } });
  assert.equal(implicit.status, 200);
  assert.equal(implicit.body.id, first.body.id);
  const changed = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body: { ...body, question: 'Something else' } });
  assertProblem(changed, 409);
  assert.equal(changed.body.referral_id, first.body.id);
  assert.equal(count(), n);
  // the same external_ref from another organisation is another referral
  const other = await api(server, 'POST', '/v1/referrals', { token: partner(orgB), body: { ...body, referrer: { kind: 'organisation' } } });
  assert.equal(other.status, 201);
  assert.notEqual(other.body.id, first.body.id);
});

test('Idempotency-Key gives the same guarantee without external_ref, per token subject', async () => {
  const body = referral({ external_ref: undefined });
  delete body.external_ref;
  const headers = { 'idempotency-key': 'key-123' };
  const first = await api(server, 'POST', '/v1/referrals', { token: coordinator(), body, headers });
  assert.equal(first.status, 201);
  const again = await api(server, 'POST', '/v1/referrals', { token: coordinator(), body, headers });
  assert.equal(again.status, 200);
  assert.equal(again.body.id, first.body.id);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: { ...body, question_kind: 'bridging' }, headers }), 409);
  const otherSub = await api(server, 'POST', '/v1/referrals', { token: token({ sub: 'someone-else', scope: 'referrals:write', regions: ['gent'] }), body, headers });
  assert.equal(otherSub.status, 201);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body, headers: { 'idempotency-key': 'x'.repeat(201) } }), 400);
});

test('concurrent duplicate pushes create exactly one referral', async () => {
  const body = referral();
  const n = count();
  const results = await Promise.all(Array.from({ length: 24 }, () => api(server, 'POST', '/v1/referrals', { token: coordinator(), body })));
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
  assert.equal(statuses.filter((s) => s === 200).length, 23);
  assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
  assert.equal(count(), n + 1);
  const keyed = referral();
  delete keyed.external_ref;
  const k = await Promise.all(Array.from({ length: 12 }, () => api(server, 'POST', '/v1/referrals', { token: coordinator(), body: keyed, headers: { 'idempotency-key': 'concurrent-1' } })));
  assert.equal(k.filter((r) => r.status === 201).length, 1);
  assert.equal(count(), n + 2);
});

test('batch: one result per item in order; valid items stored even when others fail', async () => {
  const n = count();
  const dup = referral();
  await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: dup });
  const items = [referral(), { ...referral(), family: { label: '', postcode: '0123' } }, dup, { ...dup, question: 'changed' }, referral(), 'not an object'];
  const res = await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.results.map((r) => r.status), [201, 422, 200, 409, 201, 422]);
  assert.deepEqual(res.body.results[1].problem.errors.map((e) => e.field).sort(), ['/family/label', '/family/postcode']);
  assert.equal(res.body.results[0].referral.external_ref, items[0].external_ref);
  assert.equal(count(), n + 1 + 2);
  // a batch retried as a whole is idempotent
  const retry = await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items } });
  assert.deepEqual(retry.body.results.map((r) => r.status), [200, 422, 200, 409, 200, 422]);
  assert.equal(count(), n + 3);
});

test('batch limits and shape', async () => {
  const n = count();
  assertProblem(await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items: Array.from({ length: 501 }, () => referral()) } }), 422, ['/items']);
  assertProblem(await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items: {} } }), 422, ['/items']);
  assertProblem(await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items: [], extra: 1 } }), 422, ['/items']);
  const empty = await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items: [] } });
  assert.deepEqual(empty.body, { results: [] });
  const full = await api(server, 'POST', '/v1/referrals:batch', { token: coordinator(), body: { items: Array.from({ length: 500 }, () => referral()) } });
  assert.equal(full.status, 200);
  assert.equal(full.body.results.filter((r) => r.status === 201).length, 500);
  assert.equal(count(), n + 500);
});

test('validation: every bad field at once, nothing stored', async () => {
  const n = count();
  const res = await api(server, 'POST', '/v1/referrals', {
    token: coordinator(),
    body: {
      region: 'Gent!', referrer: { kind: 'neighbour', organisation_id: 'x', extra: 1 }, external_ref: '',
      received_on: '2025-02-30', question: '', question_kind: 'urgent', status: 'closed',
      family: { label: 'x'.repeat(101), postcode: '900', children: [{ birth_year: 1950 }, { age: 3 }], rrn: '85073003328' },
    },
  });
  assertProblem(res, 422, ['/region', '/referrer/kind', '/referrer/organisation_id', '/referrer/extra', '/external_ref', '/received_on',
    '/question', '/question_kind', '/status', '/family/label', '/family/postcode', '/family/children/0/birth_year',
    '/family/children/1/age', '/family/children/1/birth_year', '/family/rrn']);
  const future = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ received_on: future }) }), 422, ['/received_on']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ received_on: '1999-12-31' }) }), 422, ['/received_on']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ question: 'q'.repeat(10001) }) }), 422, ['/question']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ referrer: { kind: 'organisation' } }) }), 422, ['/referrer/organisation_id']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ referrer: { kind: 'organisation', organisation_id: '00000000-0000-4000-8000-000000000001' } }) }), 422, ['/referrer/organisation_id']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ family: { label: 'Tab\tin label', postcode: '9000' } }) }), 422, ['/family/label']);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), raw: '{"region": "gent",', headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), raw: Buffer.from('{"question":"\xff"}', 'latin1'), headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(), raw: 'region=gent', headers: { 'content-type': 'text/plain' } }), 415);
  assert.equal(count(), n);
});

test('hostile text is stored verbatim: SQL, quotes, emoji, newlines in the question', async () => {
  const question = "'); DELETE FROM referrals; --\n\"quoted\" \\ backslash 👨‍👩‍👧 <script>alert(1)</script>";
  const res = await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral({ question }) });
  assert.equal(res.status, 201);
  assert.equal(res.body.question, question);
  assert.equal(psql(db, `SELECT question = $q$${question}$q$ FROM referrals WHERE id = '${res.body.id}'`), 't');
});

test('region scoping: no pushing into, reading or listing other regions', async () => {
  const n = count();
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(['meetjesland']), body: referral() }), 422, ['/region']);
  assert.equal(count(), n);
  const meetjes = await api(server, 'POST', '/v1/referrals', { token: coordinator(['meetjesland']), body: referral({ region: 'meetjesland' }) });
  assert.equal(meetjes.status, 201);
  assertProblem(await api(server, 'GET', `/v1/referrals/${meetjes.body.id}`, { token: coordinator(['gent']) }), 404);
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${meetjes.body.id}`, { token: coordinator(['gent']), body: { status: 'withdrawn' } }), 404);
  assertProblem(await api(server, 'POST', `/v1/referrals/${meetjes.body.id}/first-contact`, { token: coordinator(['gent']), body: { held_on: '2025-02-01', mode: 'home' } }), 404);
  const list = await api(server, 'GET', '/v1/referrals?limit=500', { token: coordinator(['gent']) });
  assert.ok(list.body.items.every((r) => r.region === 'gent'));
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: coordinator(['*']), body: referral({ region: 'atlantis' }) }), 422, ['/region']);
});

test('organisation scoping: a partner sees only its own referrals and cannot claim another organisation', async () => {
  const mine = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body: referral({ referrer: { kind: 'self' } }) });
  assert.equal(mine.status, 201);
  assertProblem(await api(server, 'GET', `/v1/referrals/${mine.body.id}`, { token: partner(orgB) }), 404);
  assert.equal((await api(server, 'GET', `/v1/referrals/${mine.body.id}`, { token: partner(orgA) })).status, 200);
  const listB = await api(server, 'GET', '/v1/referrals?limit=500', { token: partner(orgB) });
  assert.ok(!listB.body.items.some((r) => r.id === mine.body.id));
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body: referral({ referrer: { kind: 'organisation', organisation_id: orgB } }) }), 422, ['/referrer/organisation_id']);
  const ghost = token({ scope: 'referrals:write', regions: ['gent'], org: '00000000-0000-4000-8000-0000000000aa' });
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: ghost, body: referral() }), 422, ['/referrer']);
});

test('a key already used outside the caller\'s scope is a 409 that names nothing', async () => {
  const body = referral({ referrer: { kind: 'organisation', organisation_id: orgA } });
  const first = await api(server, 'POST', '/v1/referrals', { token: partner(orgA), body });
  assert.equal(first.status, 201);
  // a coordinator of another region re-uses the pair (same content, other region)
  const other = await api(server, 'POST', '/v1/referrals', { token: coordinator(['meetjesland']), body: { ...body, region: 'meetjesland' } });
  assertProblem(other, 409);
  assert.equal(other.body.referral_id, undefined);
  const same = await api(server, 'POST', '/v1/referrals', { token: coordinator(['meetjesland']), body });
  assertProblem(same, 422, ['/region']);
});

test('scopes: reading needs referrals:read or :write, writing referrals:write', async () => {
  const reader = token({ scope: 'referrals:read', regions: ['gent'] });
  const planner = token({ scope: 'plans:read plans:write', regions: ['gent'] });
  assertProblem(await api(server, 'POST', '/v1/referrals', { token: reader, body: referral() }), 403);
  assertProblem(await api(server, 'GET', '/v1/referrals', { token: planner }), 403);
  assertProblem(await api(server, 'POST', '/v1/referrals:batch', { token: planner, body: { items: [] } }), 403);
  assert.equal((await api(server, 'GET', '/v1/referrals', { token: reader })).status, 200);
  assert.equal((await api(server, 'GET', '/v1/referrals?limit=1', { token: token({ scope: 'referrals:write', regions: ['gent'] }) })).status, 200);
});

test('lifecycle: allowed transitions, 409 naming the allowed ones, If-Match', async () => {
  const created = (await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral() })).body;
  const viaPatch = await api(server, 'PATCH', `/v1/referrals/${created.id}`, { token: coordinator(), body: { status: 'contacted' } });
  assertProblem(viaPatch, 409);
  assert.deepEqual(viaPatch.body.allowed_transitions, ['withdrawn', 'declined']);
  assert.match(viaPatch.body.detail, /first-contact/);
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${created.id}`, { token: coordinator(), body: { status: 'closed', outcome: 'moved' } }), 409);

  const contacted = await api(server, 'POST', `/v1/referrals/${created.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-14', mode: 'home' }, headers: { 'if-match': '"1"' } });
  assert.equal(contacted.status, 200);
  assert.equal(contacted.body.status, 'contacted');
  assert.equal(contacted.body.first_contact_on, '2025-02-14');
  assert.equal(contacted.body.version, 2);

  assertProblem(await api(server, 'PATCH', `/v1/referrals/${created.id}`, { token: coordinator(), body: { status: 'closed' } }), 422, ['/outcome']);
  const stale = await api(server, 'PATCH', `/v1/referrals/${created.id}`, { token: coordinator(), body: { status: 'closed', outcome: 'back_on_track' }, headers: { 'if-match': '"1"' } });
  assertProblem(stale, 412);
  assert.equal(stale.body.current_version, 2);
  const closed = await api(server, 'PATCH', `/v1/referrals/${created.id}`, {
    token: coordinator(), body: { status: 'closed', outcome: 'back_on_track', closed_on: '2025-03-01' },
    headers: { 'if-match': '"2"', 'content-type': 'application/merge-patch+json' },
  });
  assert.equal(closed.status, 200);
  assert.equal(closed.body.status, 'closed');
  assert.equal(closed.body.outcome, 'back_on_track');
  assert.equal(closed.body.closed_on, '2025-03-01');
  const back = await api(server, 'PATCH', `/v1/referrals/${created.id}`, { token: coordinator(), body: { status: 'received' } });
  assertProblem(back, 409);
  assert.deepEqual(back.body.allowed_transitions, []);
  assert.equal(psql(db, `SELECT status FROM referrals WHERE id = '${created.id}'`), 'closed');
});

test('withdrawn and declined end a referral that was never contacted', async () => {
  const a = (await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral() })).body;
  const withdrawn = await api(server, 'PATCH', `/v1/referrals/${a.id}`, { token: coordinator(), body: { status: 'withdrawn' } });
  assert.equal(withdrawn.status, 200);
  assert.equal(withdrawn.body.closed_on, psql(db, "SELECT (now() AT TIME ZONE 'Europe/Brussels')::date"));
  assertProblem(await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-01', mode: 'phone' } }), 409);
  const b = (await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral() })).body;
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${b.id}`, { token: coordinator(), body: { status: 'declined', outcome: 'moved' } }), 422, ['/outcome']);
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${b.id}`, { token: coordinator(), body: { status: 'declined', closed_on: '2025-01-01' } }), 422, ['/closed_on']);
  assert.equal((await api(server, 'PATCH', `/v1/referrals/${b.id}`, { token: coordinator(), body: { status: 'declined' } })).body.status, 'declined');
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${b.id}`, { token: coordinator(), body: { status: 'bogus', foo: 1 } }), 422, ['/status', '/foo']);
});

test('first contact: dates checked, a retry answers 200, a different record 409', async () => {
  const a = (await api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referral() })).body;
  assertProblem(await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-01-30', mode: 'home' } }), 422, ['/held_on']);
  const future = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
  assertProblem(await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: future, mode: 'home' } }), 422, ['/held_on']);
  assertProblem(await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-01', mode: 'carrier-pigeon', x: 1 } }), 422, ['/mode', '/x']);
  const ok = await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-01', mode: 'video' } });
  assert.equal(ok.status, 200);
  const retry = await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-01', mode: 'video' } });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.version, ok.body.version);
  assertProblem(await api(server, 'POST', `/v1/referrals/${a.id}/first-contact`, { token: coordinator(), body: { held_on: '2025-02-02', mode: 'video' } }), 409);
  assertProblem(await api(server, 'POST', '/v1/referrals/not-a-uuid/first-contact', { token: coordinator(), body: { held_on: '2025-02-02', mode: 'video' } }), 404);
});

test('list: filters and keyset pagination that sees every referral once', async () => {
  const all = [];
  let cursor = null;
  do {
    const res = await api(server, 'GET', `/v1/referrals?limit=97${cursor ? `&cursor=${cursor}` : ''}`, { token: coordinator(['*']) });
    assert.equal(res.status, 200);
    all.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  assert.equal(all.length, count());
  assert.equal(new Set(all.map((r) => r.id)).size, all.length);
  const keys = all.map((r) => `${r.received_on}|${r.id}`);
  assert.deepEqual(keys, [...keys].sort());

  const ext = all.find((r) => r.external_ref);
  const byRef = await api(server, 'GET', `/v1/referrals?external_ref=${encodeURIComponent(ext.external_ref)}`, { token: coordinator(['*']) });
  assert.ok(byRef.body.items.some((r) => r.id === ext.id));
  assert.ok(byRef.body.items.every((r) => r.external_ref === ext.external_ref));
  const closed = await api(server, 'GET', '/v1/referrals?status=closed&region=gent&received_from=2025-01-01&received_to=2025-12-31', { token: coordinator() });
  assert.ok(closed.body.items.length >= 1);
  assert.ok(closed.body.items.every((r) => r.status === 'closed' && r.region === 'gent' && r.received_on >= '2025-01-01' && r.received_on <= '2025-12-31'));
  for (const q of ['status=open', 'received_from=2025-13-01', 'region=BAD', 'limit=0', 'cursor=abc', 'external_ref=']) {
    assertProblem(await api(server, 'GET', `/v1/referrals?${q}`, { token: coordinator() }), 400);
  }
});
