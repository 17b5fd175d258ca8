// Families and the one family plan: creation from a referral, coach and
// waiting list, plan preconditions (no lost updates, also under races),
// versions, validation, the family's own access, scoping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db, orgCaw, orgClb, orgOther;
before(async () => {
  db = freshDb('families');
  server = await startServer({ db });
  orgCaw = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW Gent', sector: 'caw', regions: ['gent'] } })).body.id;
  orgClb = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CLB Gent', sector: 'clb', regions: ['gent'] } })).body.id;
  orgOther = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CGG Elders', sector: 'cgg', regions: ['gent'] } })).body.id;
});
after(async () => { await server?.stop(); });

const coach = (claims = {}) => token({ sub: 'coach-an', scope: 'plans:read plans:write referrals:read referrals:write', regions: ['gent'], ...claims });
const familyToken = (id, claims = {}) => token({ sub: `family-${id}`, scope: 'plan:family', family: id, regions: undefined, ...claims });

async function contactedReferral(region = 'gent', tok = coach()) {
  const r = await api(server, 'POST', '/v1/referrals', {
    token: tok,
    body: { region, referrer: { kind: 'self' }, received_on: '2025-03-03', question: 'Vraag', question_kind: 'short_trajectory', family: { label: 'Gezin V.', postcode: '9000' } },
  });
  assert.equal(r.status, 201, r.text);
  const c = await api(server, 'POST', `/v1/referrals/${r.body.id}/first-contact`, { token: tok, body: { held_on: '2025-03-10', mode: 'home' } });
  assert.equal(c.status, 200, c.text);
  return r.body.id;
}

async function family(extra = {}) {
  const res = await api(server, 'POST', '/v1/families', { token: coach(), body: { region: 'gent', label: 'Gezin P.', coach: { sub: 'coach-an', name: 'An Peeters', organisation_id: orgCaw }, ...extra } });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const PLAN = () => ({
  family_question: 'We willen weer rust in huis en dat Sam naar school gaat.',
  strengths: ['Grootmoeder helpt elke woensdag', 'Veel humor'],
  goals: [{ id: 'school', title: 'Sam gaat elke dag naar school', status: 'open', target_date: '2025-06-30' }],
  actions: [{ id: 'a1', goal_id: 'school', description: 'Ochtendritueel afspreken', owner: { kind: 'family', name: 'Mama' }, due_on: '2025-04-01', status: 'planned' }],
  participants: [{ role: 'parent', name: 'Mama' }, { role: 'professional', name: 'Leerlingbegeleider', organisation_id: orgClb }],
  next_review_on: '2025-05-01',
});

async function createPlan(id, body = PLAN()) {
  const res = await api(server, 'PUT', `/v1/families/${id}/plan`, { token: coach(), body, headers: { 'if-none-match': '*' } });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

test('a family from a contacted referral: the referral moves to in_trajectory, once', async () => {
  const rid = await contactedReferral();
  const res = await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: rid, coach: { sub: 'coach-an', name: 'An Peeters', organisation_id: orgCaw } } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('location'), `/v1/families/${res.body.id}`);
  assert.equal(res.body.region, 'gent');
  assert.equal(res.body.label, 'Gezin V.');
  assert.deepEqual(res.body.referral_ids, [rid]);
  assert.equal(res.body.plan_version, null);
  const ref = await api(server, 'GET', `/v1/referrals/${rid}`, { token: coach() });
  assert.equal(ref.body.status, 'in_trajectory');
  assert.equal(ref.body.family_id, res.body.id);
  const again = await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: rid } });
  assertProblem(again, 409);
  assert.equal(again.body.family_id, res.body.id);
  assert.equal(Number(psql(db, `SELECT count(*) FROM families WHERE id <> '${res.body.id}' AND label = 'Gezin V.'`)), 0);
});

test('a referral without first contact cannot start a family; unknown or invisible referrals are 422', async () => {
  const r = await api(server, 'POST', '/v1/referrals', { token: coach(), body: { region: 'gent', referrer: { kind: 'self' }, question: 'Q', question_kind: 'consult', family: { label: 'X', postcode: '9000' } } });
  const res = await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: r.body.id } });
  assertProblem(res, 409);
  assert.equal(res.body.current_status, 'received');
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: '00000000-0000-4000-8000-000000000000' } }), 422, ['/referral_id']);
  const elsewhere = await contactedReferral('meetjesland', token({ scope: 'referrals:write', regions: ['meetjesland'] }));
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: { referral_id: elsewhere } }), 422, ['/referral_id']);
});

test('a family collects a later referral of its region', async () => {
  const f = await family();
  const rid = await contactedReferral();
  const res = await api(server, 'POST', `/v1/families/${f.id}/referrals`, { token: coach(), body: { referral_id: rid } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.referral_ids, [rid]);
  assert.equal(res.body.version, f.version + 1);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/referrals`, { token: coach(), body: { referral_id: rid } }), 409);
});

test('family validation: every bad field, nothing stored', async () => {
  const n = Number(psql(db, 'SELECT count(*) FROM families'));
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: {
    region: 'gent', label: '', coach: { sub: '', name: 'x'.repeat(201), extra: 1 },
    waiting_for: [{ module: 'Thuisbegeleiding', since: '2025-02-30', organisation_id: 'nope' }], bogus: true,
  } }), 422, ['/label', '/coach/sub', '/coach/name', '/coach/extra', '/waiting_for/0/since', '/waiting_for/0/organisation_id', '/bogus']);
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: {} }), 422, ['/region', '/label']);
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: { region: 'meetjesland', label: 'X' } }), 422, ['/region']);
  assertProblem(await api(server, 'POST', '/v1/families', { token: coach(), body: { region: 'gent', label: 'X', coach: { sub: 's', name: 'n', organisation_id: '00000000-0000-4000-8000-000000000000' } } }), 422, ['/coach/organisation_id']);
  assert.equal(Number(psql(db, 'SELECT count(*) FROM families')), n);
});

test('PATCH a family: coach change, waiting list, If-Match', async () => {
  const f = await family();
  const res = await api(server, 'PATCH', `/v1/families/${f.id}`, {
    token: coach(),
    body: { coach: { name: 'An Peeters-De Smet' }, waiting_for: [{ module: 'Residentiële opvang', organisation_id: orgOther, since: '2025-03-01' }] },
    headers: { 'content-type': 'application/merge-patch+json', 'if-match': `"${f.version}"` },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.coach, { sub: 'coach-an', name: 'An Peeters-De Smet', organisation_id: orgCaw });
  assert.equal(res.body.waiting_for[0].module, 'Residentiële opvang');
  assert.equal(res.body.version, f.version + 1);
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}`, { token: coach(), body: { label: 'Lost' }, headers: { 'if-match': `"${f.version}"` } }), 412);
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}`, { token: coach(), body: { label: null } }), 422, ['/label']);
  const removed = await api(server, 'PATCH', `/v1/families/${f.id}`, { token: coach(), body: { coach: null, waiting_for: null } });
  assert.equal(removed.status, 200);
  assert.equal(removed.body.coach, null);
  assert.deepEqual(removed.body.waiting_for, []);
  const list = await api(server, 'GET', '/v1/families?coach=coach-an&region=gent&limit=500', { token: coach() });
  assert.ok(list.body.items.every((x) => x.coach && x.coach.sub === 'coach-an'));
  assert.ok(!list.body.items.some((x) => x.id === f.id));
});

test('plan: create with If-None-Match, second create 412, GET with ETag', async () => {
  const f = await family();
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: coach() }), 404);
  const plan = await createPlan(f.id);
  assert.equal(plan.version, 1);
  assert.equal(plan.family_question, PLAN().family_question);
  assert.deepEqual(plan.goals, PLAN().goals);
  const got = await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: coach() });
  assert.equal(got.headers.get('etag'), '"1"');
  assert.deepEqual(got.body, plan);
  const second = await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: PLAN(), headers: { 'if-none-match': '*' } });
  assertProblem(second, 412);
  assert.equal(second.body.current_version, 1);
  assert.equal((await api(server, 'GET', `/v1/families/${f.id}`, { token: coach() })).body.plan_version, 1);
});

test('plan: writes to an existing plan need If-Match (428), a stale one is 412 with the current version', async () => {
  const f = await family();
  await createPlan(f.id);
  const missing = await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: PLAN() });
  assertProblem(missing, 428);
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: coach(), body: { strengths: [] } }), 428);
  const next = await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: { ...PLAN(), family_question: 'Anders verwoord' }, headers: { 'if-match': '"1"' } });
  assert.equal(next.status, 200);
  assert.equal(next.body.version, 2);
  const stale = await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: coach(), body: { strengths: ['x'] }, headers: { 'if-match': '"1"', 'content-type': 'application/merge-patch+json' } });
  assertProblem(stale, 412);
  assert.equal(stale.body.current_version, 2);
  assert.equal(JSON.parse(psql(db, `SELECT content->'strengths' FROM plans WHERE family_id = '${f.id}'`)).length, 2);
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: PLAN(), headers: { 'if-none-match': '"2"' } }), 400);
});

test('plan: merge patch; a PUT of what GET returned is accepted; ids assigned by the server', async () => {
  const f = await family();
  const created = await createPlan(f.id, { family_question: 'Vraag', goals: [{ title: 'Zonder id', status: 'open' }] });
  assert.match(created.goals[0].id, /^[0-9a-f-]{36}$/);
  const patched = await api(server, 'PATCH', `/v1/families/${f.id}/plan`, {
    token: coach(), body: { next_review_on: '2025-09-01', strengths: ['Doorzetter'] },
    headers: { 'if-match': '"1"', 'content-type': 'application/merge-patch+json' },
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.next_review_on, '2025-09-01');
  assert.deepEqual(patched.body.goals, created.goals);
  const roundTrip = await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: patched.body, headers: { 'if-match': '"2"' } });
  assert.equal(roundTrip.status, 200);
  assert.equal(roundTrip.body.version, 3);
  const same = await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: coach(), body: {}, headers: { 'if-match': '"3"' } });
  assert.equal(same.body.version, 3, 'an empty patch makes no new version');
});

test('plan validation: shapes, enums, goal references, organisations, sizes; nothing stored', async () => {
  const f = await family();
  const bad = {
    family_question: '',
    strengths: ['ok', ''],
    goals: [{ id: 'g', title: 'T', status: 'done' }, { id: 'g', title: 'T2', status: 'open' }, { id: 'bad id!', title: 'x', status: 'open' }],
    actions: [{ id: 'a', goal_id: 'nope', description: 'D', owner: { kind: 'neighbour', name: 'X' }, status: 'planned', due_on: '2025-02-29' }],
    participants: [{ role: 'parent' }, { role: 'professional', name: 'P', organisation_id: '00000000-0000-4000-8000-000000000000' }],
    extra: 1,
  };
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: bad, headers: { 'if-none-match': '*' } }), 422,
    ['/family_question', '/strengths/1', '/goals/0/status', '/goals/2/id', '/actions/0/owner/kind', '/actions/0/due_on', '/participants/0/name', '/extra']);
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: { family_question: 'Q', goals: [{ id: 'g', title: 'T', status: 'open' }, { id: 'g', title: 'T2', status: 'open' }], actions: [{ goal_id: 'nope', description: 'D', owner: { kind: 'family', name: 'X' }, status: 'planned' }] }, headers: { 'if-none-match': '*' } }),
    422, ['/goals/1/id', '/actions/0/goal_id']);
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: { family_question: 'Q', participants: [{ role: 'professional', name: 'P', organisation_id: '00000000-0000-4000-8000-000000000000' }] }, headers: { 'if-none-match': '*' } }),
    422, ['/participants/0/organisation_id']);
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), body: { family_question: 'Q', strengths: Array.from({ length: 51 }, () => 's') }, headers: { 'if-none-match': '*' } }), 422, ['/strengths']);
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: coach(), raw: '{"family_question": ', headers: { 'if-none-match': '*', 'content-type': 'application/json' } }), 400);
  assert.equal(Number(psql(db, `SELECT count(*) FROM plans WHERE family_id = '${f.id}'`)), 0);
  await createPlan(f.id);
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: coach(), body: { goals: null, family_question: null }, headers: { 'if-match': '"1"' } }), 422, ['/family_question']);
  assert.equal(Number(psql(db, `SELECT version FROM plans WHERE family_id = '${f.id}'`)), 1);
});

test('two clients racing with the same If-Match: exactly one wins each round, no update lost', async () => {
  const f = await family();
  await createPlan(f.id);
  let version = 1;
  for (let round = 0; round < 15; round++) {
    const attempts = await Promise.all(['A', 'B', 'C'].map((who) => api(server, 'PATCH', `/v1/families/${f.id}/plan`, {
      token: coach({ sub: `client-${who}` }), body: { strengths: [`${who} round ${round}`] },
      headers: { 'if-match': `"${version}"`, 'content-type': 'application/merge-patch+json' },
    })));
    const won = attempts.filter((a) => a.status === 200);
    assert.equal(won.length, 1, JSON.stringify(attempts.map((a) => a.status)));
    assert.ok(attempts.filter((a) => a.status !== 200).every((a) => a.status === 412 && a.body.current_version === version + 1));
    version += 1;
    assert.deepEqual(won[0].body.strengths, [`${won[0].body.updated_by.slice(-1)} round ${round}`]);
  }
  // every winning write is a kept version
  const versions = await api(server, 'GET', `/v1/families/${f.id}/plan/versions?limit=500`, { token: coach() });
  assert.deepEqual(versions.body.items.map((v) => v.version), Array.from({ length: version }, (_, i) => i + 1));
});

test('versions are complete and immutable; paging; version n returns the plan as it was', async () => {
  const f = await family();
  const v1 = await createPlan(f.id);
  for (let i = 2; i <= 5; i++) {
    const r = await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: coach(), body: { strengths: [`s${i}`] }, headers: { 'if-match': `"${i - 1}"` } });
    assert.equal(r.body.version, i);
  }
  const page1 = await api(server, 'GET', `/v1/families/${f.id}/plan/versions?limit=3`, { token: coach() });
  assert.deepEqual(page1.body.items.map((v) => v.version), [1, 2, 3]);
  assert.equal(page1.body.items[0].changed_by, 'coach-an');
  const page2 = await api(server, 'GET', `/v1/families/${f.id}/plan/versions?limit=3&cursor=${page1.body.next_cursor}`, { token: coach() });
  assert.deepEqual(page2.body.items.map((v) => v.version), [4, 5]);
  const old = await api(server, 'GET', `/v1/families/${f.id}/plan/versions/1`, { token: coach() });
  assert.deepEqual(old.body, v1);
  assert.equal(old.headers.get('etag'), '"1"');
  assert.deepEqual((await api(server, 'GET', `/v1/families/${f.id}/plan/versions/3`, { token: coach() })).body.strengths, ['s3']);
  for (const n of ['0', '6', 'x', '-1', '99999999999', '2147483648']) assertProblem(await api(server, 'GET', `/v1/families/${f.id}/plan/versions/${n}`, { token: coach() }), 404);
  const big = Buffer.from('2147483648').toString('base64url');
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/plan/versions?cursor=${big}`, { token: coach() }), 400);
  assert.throws(() => psql(db, `UPDATE plan_versions SET changed_by = 'x' WHERE family_id = '${f.id}'`), /immutable/);
  assert.throws(() => psql(db, `DELETE FROM plan_versions WHERE family_id = '${f.id}'`), /immutable/);
});

test("the family's own token: reads its plan and versions, agrees, nothing else", async () => {
  const f = await family();
  const other = await family();
  await createPlan(f.id);
  await createPlan(other.id);
  const mine = familyToken(f.id);
  assert.equal((await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: mine })).status, 200);
  assert.equal((await api(server, 'GET', `/v1/families/${f.id}/plan/versions`, { token: mine })).status, 200);
  assert.equal((await api(server, 'GET', `/v1/families/${f.id}/plan/versions/1`, { token: mine })).status, 200);
  assertProblem(await api(server, 'GET', `/v1/families/${other.id}/plan`, { token: mine }), 404);
  assertProblem(await api(server, 'GET', `/v1/families/${other.id}/plan/versions`, { token: mine }), 404);
  assertProblem(await api(server, 'POST', `/v1/families/${other.id}/plan/agreement`, { token: mine, body: { version: 1 } }), 404);
  for (const [m, p, body] of [['GET', `/v1/families/${f.id}`], ['GET', '/v1/families'], ['PUT', `/v1/families/${f.id}/plan`, PLAN()],
    ['PATCH', `/v1/families/${f.id}/plan`, { strengths: [] }], ['GET', '/v1/referrals'], ['GET', '/v1/regions'], ['GET', '/v1/deadlines']]) {
    assertProblem(await api(server, m, p, { token: mine, body, headers: { 'if-match': '"1"' } }), 403);
  }
  // even with extra scopes and regions claimed, a family token stays a family token
  assertProblem(await api(server, 'GET', '/v1/families', { token: familyToken(f.id, { scope: 'plan:family plans:read admin', regions: ['*'] }) }), 403);
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: token({ scope: 'plan:family', regions: ['*'] }) }), 404);

  const stale = await api(server, 'POST', `/v1/families/${f.id}/plan/agreement`, { token: mine, body: { version: 7 } });
  assertProblem(stale, 412);
  assert.equal(stale.body.current_version, 1);
  const agreed = await api(server, 'POST', `/v1/families/${f.id}/plan/agreement`, { token: mine, body: { version: 1 } });
  assert.equal(agreed.status, 200);
  assert.equal(agreed.body.agreed_version, 1);
  assert.equal(agreed.body.agreed_by_family_on, psql(db, "SELECT (now() AT TIME ZONE 'Europe/Brussels')::date"));
  assert.equal(agreed.body.version, 2);
  assert.equal(agreed.body.updated_by, `family-${f.id}`);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/plan/agreement`, { token: mine, body: { version: '1', x: 1 } }), 422, ['/version', '/x']);
});

test('scoping: other regions 404; partner organisations see only plans they take part in', async () => {
  const f = await family();
  await createPlan(f.id); // participants include the CLB; the coach is from the CAW
  const gentReader = token({ scope: 'plans:read', regions: ['gent'] });
  const otherRegion = token({ scope: 'plans:read plans:write', regions: ['meetjesland'] });
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}`, { token: otherRegion }), 404);
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: otherRegion }), 404);
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: otherRegion, body: {}, headers: { 'if-match': '"1"' } }), 404);
  assert.ok(!(await api(server, 'GET', '/v1/families?limit=500', { token: otherRegion })).body.items.some((x) => x.id === f.id));
  assert.equal((await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: gentReader })).status, 200);
  for (const [org, visible] of [[orgCaw, true], [orgClb, true], [orgOther, false]]) {
    const t = token({ scope: 'plans:read', regions: ['gent'], org });
    const res = await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: t });
    assert.equal(res.status, visible ? 200 : 404, `org ${org}`);
    const list = await api(server, 'GET', '/v1/families?limit=500', { token: t });
    assert.equal(list.body.items.some((x) => x.id === f.id), visible);
  }
  assertProblem(await api(server, 'PUT', `/v1/families/${f.id}/plan`, { token: gentReader, body: PLAN(), headers: { 'if-match': '"1"' } }), 403);
  assertProblem(await api(server, 'POST', '/v1/families', { token: gentReader, body: { region: 'gent', label: 'X' } }), 403);
  assertProblem(await api(server, 'GET', '/v1/families', { token: token({ scope: 'referrals:read', regions: ['gent'] }) }), 403);
  assertProblem(await api(server, 'GET', '/v1/families/not-a-uuid/plan', { token: coach() }), 404);
});
