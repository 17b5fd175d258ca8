// Data protection: the family's whole file exported (and nothing of another
// family), its own immutable statements, and erasure that removes every
// personal field (searched for in a pg_dump of the whole database, change
// rows, audit rows and webhook payloads included) while every metric and
// deadline state stays exactly the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';
import { WEBHOOK_ENV, receiver, until } from './receiver.mjs';

let server, db, org1, org2, rec;
const privacy = (claims = {}) => token({ sub: 'dpo-gent', scope: 'privacy', regions: ['gent'], ...claims });
const staff = (claims = {}) => token({ sub: 'coach-1', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['gent'], ...claims });
const familyToken = (id) => token({ sub: `family-${id}`, scope: 'plan:family', family: id, regions: undefined });

before(async () => {
  db = freshDb('privacy');
  rec = await receiver();
  server = await startServer({ db, env: WEBHOOK_ENV });
  org1 = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW Een', sector: 'caw', regions: ['gent'] } })).body.id;
  org2 = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CGG Twee', sector: 'cgg', regions: ['gent'] } })).body.id;
});
after(async () => { await server?.stop(); await rec?.close(); });

// A family with everything a file can hold; every text carries `tag` so the
// test can find it again (or not).
async function richFamily(tag, { versions = 3, region = 'gent' } = {}) {
  const tok = staff({ regions: [region] });
  const refs = [];
  for (let i = 0; i < 2; i++) {
    const r = await api(server, 'POST', '/v1/referrals', { token: tok, body: { region, referrer: { kind: 'self' }, received_on: '2025-02-03', question: `Vraag ${tag}-${i}`, question_kind: 'consult', family: { label: `Gezin ${tag}`, postcode: '9000', children: [{ birth_year: 2014 }] } } });
    assert.equal(r.status, 201, r.text);
    await api(server, 'POST', `/v1/referrals/${r.body.id}/deadline-pauses`, { token: tok, body: { from: '2025-02-04', to: '2025-02-05', reason: 'other', note: `Notitie ${tag}-${i}` } });
    await api(server, 'POST', `/v1/referrals/${r.body.id}/first-contact`, { token: tok, body: { held_on: '2025-02-20', mode: 'home' } });
    refs.push(r.body.id);
  }
  const fam = await api(server, 'POST', '/v1/families', { token: tok, body: { referral_id: refs[0], label: `Gezin ${tag}`, coach: { sub: 'coach-1', name: `Coach ${tag}`, organisation_id: org1 }, waiting_for: [{ module: `Module ${tag}`, since: '2025-03-01' }] } });
  assert.equal(fam.status, 201, fam.text);
  const id = fam.body.id;
  // A second coach: the coach history holds both names.
  assert.equal((await api(server, 'PATCH', `/v1/families/${id}`, { token: tok, body: { coach: { sub: 'coach-2', name: `Coach2 ${tag}` } } })).status, 200);
  await api(server, 'POST', `/v1/families/${id}/referrals`, { token: tok, body: { referral_id: refs[1] } });
  let plan = await api(server, 'PUT', `/v1/families/${id}/plan`, { token: tok, headers: { 'if-none-match': '*' }, body: {
    family_question: `Vraag van het gezin ${tag}`, strengths: [`Sterkte ${tag}`], goals: [{ id: 'g1', title: `Doel ${tag}`, status: 'open' }],
    actions: [{ id: 'a1', goal_id: 'g1', description: `Actie ${tag}`, owner: { kind: 'family', name: `Mama ${tag}` }, status: 'planned' }],
    participants: [{ role: 'professional', name: `Hulpverlener ${tag}`, organisation_id: org2 }] } });
  assert.equal(plan.status, 201, plan.text);
  for (let v = 1; v < versions; v++) {
    plan = await api(server, 'PATCH', `/v1/families/${id}/plan`, { token: tok, headers: { 'if-match': plan.headers.get('etag'), 'content-type': 'application/merge-patch+json' }, body: { strengths: [`Sterkte ${tag} v${v}`] } });
    assert.equal(plan.status, 200, plan.text);
  }
  const agreed = await api(server, 'POST', `/v1/families/${id}/plan/agreement`, { token: familyToken(id), body: { version: plan.body.version } });
  assert.equal(agreed.status, 200, agreed.text);
  await api(server, 'POST', `/v1/families/${id}/statements`, { token: familyToken(id), body: { text: `Onze kant ${tag}` } });
  await api(server, 'POST', `/v1/families/${id}/statements`, { token: tok, body: { text: `Namens het gezin ${tag}` } });
  // Plan reads by two organisations (coach's and participant's).
  await api(server, 'GET', `/v1/families/${id}/plan`, { token: staff({ org: org1, sub: 'reader-caw' }) });
  await api(server, 'GET', `/v1/families/${id}/plan`, { token: staff({ org: org2, sub: 'reader-cgg' }) });
  return { id, refs, tag };
}

test('the export holds the family, its referrals with pauses, the plan, every version, statements and who read the plan; nothing of another family', async () => {
  const a = await richFamily('ALFA', { versions: 4 });
  await richFamily('BRAVO');
  const res = await api(server, 'GET', `/v1/families/${a.id}/export`, { token: privacy() });
  assert.equal(res.status, 200, res.text);
  const x = res.body;
  assert.equal(x.family.id, a.id);
  assert.deepEqual(x.referrals.map((r) => r.id).sort(), [...a.refs].sort());
  assert.ok(x.referrals.every((r) => r.deadline_pauses.length === 1 && /ALFA/.test(r.deadline_pauses[0].note)));
  assert.equal(x.plan.version, 5); // 4 writes and the agreement
  assert.deepEqual(x.plan_versions.map((v) => v.version), [1, 2, 3, 4, 5]);
  assert.equal(x.plan.agreed_version, 4);
  assert.deepEqual(x.statements.map((s) => s.by_family), [true, false]);
  assert.deepEqual(x.coaches.map((c) => [c.sub, c.name, c.organisation_id, c.to === null]), [['coach-1', 'Coach ALFA', org1, false], ['coach-2', 'Coach2 ALFA', org1, true]]);
  const readers = x.plan_access.filter((e) => e.action === 'read').map((e) => e.sub);
  assert.ok(readers.includes('reader-caw') && readers.includes('reader-cgg'), JSON.stringify(readers));
  assert.ok(x.plan_access.some((e) => e.action === 'agreement'));
  assert.equal(x.erasure, null);
  assert.doesNotMatch(res.text, /BRAVO/);
  for (const text of ['Vraag ALFA-0', 'Vraag ALFA-1', 'Gezin ALFA', 'Coach ALFA', 'Coach2 ALFA', 'Module ALFA', 'Doel ALFA', 'Actie ALFA', 'Mama ALFA', 'Hulpverlener ALFA', 'Onze kant ALFA', 'Namens het gezin ALFA', 'Sterkte ALFA v3'])
    assert.ok(res.text.includes(text), `export holds ${text}`);
  // The family itself may export its own file; audited each time.
  assert.equal((await api(server, 'GET', `/v1/families/${a.id}/export`, { token: familyToken(a.id) })).status, 200);
  assert.equal(psql(db, `SELECT count(*) FROM audit_log WHERE action = 'export' AND resource_id = '${a.id}'`), '2');
  assertProblem(await api(server, 'GET', `/v1/families/${a.id}/export`, { token: familyToken('00000000-0000-4000-8000-000000000000') }), 404);
  assertProblem(await api(server, 'GET', `/v1/families/${a.id}/export`, { token: staff() }), 403);
  assertProblem(await api(server, 'GET', `/v1/families/${a.id}/export`, { token: privacy({ regions: ['meetjesland'] }) }), 404);
  // A referral without a family exports alone; one of a family is 409.
  const lone = await api(server, 'POST', '/v1/referrals', { token: staff(), body: { region: 'gent', referrer: { kind: 'self' }, question: 'Alleen', question_kind: 'consult', family: { label: 'Gezin L.', postcode: '9000' } } });
  const rx = await api(server, 'GET', `/v1/referrals/${lone.body.id}/export`, { token: privacy() });
  assert.equal(rx.status, 200);
  assert.equal(rx.body.referral.question, 'Alleen');
  assertProblem(await api(server, 'GET', `/v1/referrals/${a.refs[0]}/export`, { token: privacy() }), 409);
});

test('statements are immutable, bounded and scoped', async () => {
  const f = (await api(server, 'POST', '/v1/families', { token: staff(), body: { region: 'gent', label: 'Gezin S.' } })).body;
  const s = await api(server, 'POST', `/v1/families/${f.id}/statements`, { token: familyToken(f.id), body: { text: 'Ik ben 13 en dit is mijn verhaal.' } });
  assert.equal(s.status, 201);
  assert.equal(s.body.by_family, true);
  assert.equal(s.headers.get('location'), `/v1/families/${f.id}/statements/${s.body.id}`);
  assert.equal((await api(server, 'GET', s.headers.get('location'), { token: familyToken(f.id) })).body.text, 'Ik ben 13 en dit is mijn verhaal.');
  assert.throws(() => psql(db, `UPDATE family_statements SET text = 'anders' WHERE id = '${s.body.id}'`), /immutable/);
  assert.throws(() => psql(db, `DELETE FROM family_statements WHERE id = '${s.body.id}'`), /immutable/);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/statements`, { token: staff(), body: { text: 'x'.repeat(10001) } }), 422, ['/text']);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/statements`, { token: staff(), body: { text: '', extra: 1 } }), 422, ['/text', '/extra']);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/statements`, { token: staff({ regions: ['meetjesland'] }), body: { text: 'x' } }), 404);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/statements`, { token: token({ scope: 'plans:read' }), body: { text: 'x' } }), 403);
  const list = await api(server, 'GET', `/v1/families/${f.id}/statements`, { token: staff() });
  assert.equal(list.body.items.length, 1);
});

function snapshot() {
  const figures = [];
  for (const q of ['from=2025-01-01&to=2025-12-31&group_by=region,month', 'from=2024-06-01&to=2026-06-30&group_by=region', 'from=2025-02-01&to=2025-02-28', 'from=2025-01-01&to=2025-12-31&group_by=month&format=csv'])
    figures.push(api(server, 'GET', `/v1/metrics?${q}`, { token: token({ scope: 'metrics:read' }) }).then((r) => r.text));
  for (const asOf of ['2025-02-10', '2025-03-10', '2026-01-01'])
    figures.push(api(server, 'GET', `/v1/deadlines?as_of=${asOf}&limit=500`).then((r) => JSON.stringify(r.body.items)));
  return Promise.all(figures);
}

test('erasing half of the families and referrals changes no metric and no deadline state, and leaves none of their text anywhere', async () => {
  const sub = (await api(server, 'POST', '/v1/webhooks', { body: { url: rec.url, events: ['family.erased', 'referral.erased', 'family.updated'] } })).body;
  const families = [];
  for (let i = 0; i < 6; i++) families.push(await richFamily(`ERASE${i}X`));
  const lone = [];
  for (let i = 0; i < 6; i++) {
    const r = await api(server, 'POST', '/v1/referrals', { token: staff(), body: { region: 'gent', referrer: { kind: 'self' }, received_on: '2025-02-1' + i, question: `Losse vraag LONE${i}X`, question_kind: 'consult', family: { label: `Los gezin LONE${i}X`, postcode: '9000' } } });
    if (i % 3 === 0) await api(server, 'PATCH', `/v1/referrals/${r.body.id}`, { token: staff(), body: { status: 'withdrawn' } });
    lone.push(r.body.id);
  }
  const before = await snapshot();
  const erasedTags = [];
  for (const [i, f] of families.entries()) {
    if (i % 2) continue;
    const res = await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'request', note: 'Verzoek via DPO' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.label, null);
    assert.ok(res.body.erased_on);
    erasedTags.push(f.tag);
  }
  for (const [i, id] of lone.entries()) {
    if (i % 2) continue;
    const res = await api(server, 'POST', `/v1/referrals/${id}/erasure`, { token: privacy(), body: { reason: 'retention' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.question, null);
    assert.equal(res.body.family.label, null);
    erasedTags.push(`LONE${i}X`);
  }
  const afterFigures = await snapshot();
  assert.deepEqual(afterFigures, before, 'every metric and deadline state is exactly the same');
  // The whole database, as pg_dump writes it: no erased text, every kept one.
  await until(() => rec.requests.filter((q) => JSON.parse(q.body).type === 'family.erased').length === 3, 10000, 'family.erased events');
  const dump = execFileSync('pg_dump', ['--data-only', db], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  for (const tag of erasedTags) assert.ok(!dump.includes(tag), `${tag} is gone from the database`);
  for (const [i, f] of families.entries()) if (i % 2) assert.ok(dump.includes(`Gezin ${f.tag}`) && dump.includes(`Onze kant ${f.tag}`), `${f.tag} is kept`);
  assert.ok(dump.includes('LONE1X'));
  for (const q of rec.requests) for (const tag of erasedTags) assert.ok(!q.body.includes(tag));
  for (const tag of erasedTags) assert.ok(!server.output().includes(tag), `${tag} not in the server log`);
  assert.equal(rec.requests.filter((q) => JSON.parse(q.body).type === 'referral.erased').length >= 3, true);
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`);
});

test('an erased family reads as its skeleton, takes no more writes (409), and a second erasure answers the same skeleton', async () => {
  const f = await richFamily('SKEL');
  const first = await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'other', note: null } });
  assert.equal(first.status, 200);
  const again = await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'request' } });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, first.body);
  assert.equal(psql(db, `SELECT count(*) FROM audit_log WHERE action = 'erase' AND resource_id = '${f.id}'`), '1');
  const fam = await api(server, 'GET', `/v1/families/${f.id}`, { token: staff() });
  assert.equal(fam.body.label, null);
  assert.equal(fam.body.coach.name, 'erased');
  assert.equal(fam.body.waiting_for[0].module, undefined);
  const plan = await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: staff() });
  assert.equal(plan.body.family_question, null);
  assert.deepEqual([plan.body.strengths, plan.body.goals, plan.body.actions, plan.body.participants], [[], [], [], []]);
  const v1 = await api(server, 'GET', `/v1/families/${f.id}/plan/versions/1`, { token: staff() });
  assert.equal(v1.body.family_question, null);
  const ref = await api(server, 'GET', `/v1/referrals/${f.refs[0]}`, { token: staff() });
  assert.equal(ref.body.question, null);
  assert.ok(ref.body.erased_on);
  assert.equal(ref.body.deadline_pauses[0].note, null);
  const export_ = await api(server, 'GET', `/v1/families/${f.id}/export`, { token: privacy() });
  assert.equal(export_.body.erasure.reason, 'other');
  assert.ok(export_.body.statements.every((s) => s.text === null && s.erased_on));
  assert.deepEqual(export_.body.coaches.map((c) => [c.sub, c.name]), [['coach-1', 'erased'], ['coach-2', 'erased']]);
  for (const [m, p, body, headers] of [
    ['PATCH', `/v1/families/${f.id}`, { label: 'Terug' }, {}],
    ['PUT', `/v1/families/${f.id}/plan`, { family_question: 'Opnieuw' }, { 'if-match': '*' }],
    ['POST', `/v1/families/${f.id}/statements`, { text: 'Nog iets' }, {}],
    ['PATCH', `/v1/referrals/${f.refs[0]}`, { status: 'closed', outcome: 'other' }, {}],
    ['POST', `/v1/referrals/${f.refs[0]}/deadline-pauses`, { from: '2025-02-06', to: '2025-02-06', reason: 'other' }, {}],
  ]) assertProblem(await api(server, m, p, { token: staff(), body, headers }), 409);
  // The database refuses any other redaction of immutable rows.
  assert.throws(() => psql(db, `UPDATE plan_versions SET doc = '{}' WHERE family_id = '${f.id}'`), /immutable/);
});

test('erasure: bad input and wrong callers', async () => {
  const f = (await api(server, 'POST', '/v1/families', { token: staff(), body: { region: 'gent', label: 'Gezin E.' } })).body;
  assertProblem(await api(server, 'POST', '/v1/families/00000000-0000-4000-8000-000000000000/erasure', { token: privacy(), body: { reason: 'request' } }), 404);
  assertProblem(await api(server, 'POST', '/v1/families/nope/erasure', { token: privacy(), body: { reason: 'request' } }), 404);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy({ regions: ['meetjesland'] }), body: { reason: 'request' } }), 404);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: staff(), body: { reason: 'request' } }), 403);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'because' } }), 422, ['/reason']);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'request', note: 'x'.repeat(2001) } }), 422, ['/note']);
  assertProblem(await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), raw: JSON.stringify({ reason: 'request', note: 'x'.repeat(1024 * 1024) }), headers: { 'content-type': 'application/json' } }), 413);
  assert.equal(psql(db, `SELECT erased_on IS NULL FROM families WHERE id = '${f.id}'`), 't');
});

test('an erasure racing with plan updates: one wins cleanly, nothing half-erased', async () => {
  for (let round = 0; round < 5; round++) {
    const f = await richFamily(`RACE${round}X`, { versions: 1 });
    const etag = (await api(server, 'GET', `/v1/families/${f.id}/plan`, { token: staff() })).headers.get('etag');
    const [upd, era] = await Promise.all([
      api(server, 'PATCH', `/v1/families/${f.id}/plan`, { token: staff(), headers: { 'if-match': etag, 'content-type': 'application/merge-patch+json' }, body: { strengths: [`Na de race RACE${round}X`] } }),
      api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy(), body: { reason: 'request' } }),
    ]);
    assert.equal(era.status, 200);
    // The update either commits first (and is then erased) or meets the erased plan (409) or its new version (412).
    assert.ok([200, 409, 412].includes(upd.status), `${upd.status} ${upd.text}`);
    const dump = psql(db, `SELECT count(*) FROM plan_versions WHERE family_id = '${f.id}' AND doc::text LIKE '%RACE${round}X%'`);
    assert.equal(dump, '0', 'no version keeps the family\'s text');
    assert.equal(psql(db, `SELECT content::text LIKE '%RACE${round}X%' FROM plans WHERE family_id = '${f.id}'`), 'f');
  }
});
