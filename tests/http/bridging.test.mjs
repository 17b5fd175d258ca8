// Bridging and continuity: waiting items with ids that stay, when care
// started or the wait ended (validated as a whole), the coach history, the
// families filters waiting and coach_sub, the three metrics on a known data
// set (month edges, a family waiting for two modules, care that starts after
// the period, a wait ended without care, a coach changed twice, a family
// without a coach, organisation scope), and the migration of existing rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, freshDb, api, assertProblem, token, psql, ROOT } from './lib.mjs';

let server, db, orgCaw, orgCgg, TODAY;
const staff = (claims = {}) => token({ sub: 'coach-an', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['*'], ...claims });
// The metrics data set lives in two regions of its own, so the families of
// the other tests do not count.
const reporter = (claims = {}) => token({ sub: 'report', scope: 'metrics:read', regions: ['brug-a', 'brug-b'], ...claims });
const MERGE = { 'content-type': 'application/merge-patch+json' };

before(async () => {
  db = freshDb('bridging');
  server = await startServer({ db });
  orgCaw = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW Brug', sector: 'caw', regions: ['gent'] } })).body.id;
  orgCgg = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CGG Brug', sector: 'cgg', regions: ['gent'] } })).body.id;
  for (const code of ['brug-a', 'brug-b']) {
    assert.equal((await api(server, 'POST', '/v1/regions', { body: { code, name: `Regio ${code}`, province: 'Antwerpen' } })).status, 201);
  }
  TODAY = psql(db, 'SELECT g1p_today()');
});
after(async () => { await server?.stop(); });

async function family(body, tok = staff()) {
  const res = await api(server, 'POST', '/v1/families', { token: tok, body });
  assert.equal(res.status, 201, res.text);
  return res.body;
}
async function patch(id, body) {
  const res = await api(server, 'PATCH', `/v1/families/${id}`, { token: staff(), body, headers: MERGE });
  assert.equal(res.status, 200, res.text);
  return res.body;
}
const item = (f) => ({ module: 'Thuisbegeleiding', since: '2025-03-01', ...f });

test('waiting items: the server gives ids, every member is present, ids stay across PATCHes', async () => {
  const f = await family({ region: 'gent', label: 'Gezin W.', waiting_for: [item({ sector: 'jeugdhulp', organisation_id: orgCaw }), item({ module: 'CGG', since: '2025-04-01', id: null })] });
  assert.equal(f.waiting_for.length, 2);
  for (const w of f.waiting_for) {
    assert.match(w.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(Object.keys(w).sort(), ['ended', 'id', 'module', 'organisation_id', 'sector', 'since', 'started_on']);
  }
  const [a, b] = f.waiting_for;
  assert.notEqual(a.id, b.id);
  assert.deepEqual({ ...a, id: undefined }, { id: undefined, module: 'Thuisbegeleiding', sector: 'jeugdhulp', organisation_id: orgCaw, since: '2025-03-01', started_on: null, ended: null });
  assert.equal(b.sector, null);
  // A label change keeps the list as it is.
  assert.deepEqual((await patch(f.id, { label: 'Gezin W2.' })).waiting_for, f.waiting_for);
  // Care started for a, b is dropped, c is new; ids are sent back in any case.
  const started = await patch(f.id, { waiting_for: [{ ...a, id: a.id.toUpperCase(), started_on: '2025-05-02', ended: 'started' }, item({ module: 'Logopedie', sector: 'other' })] });
  assert.equal(started.waiting_for[0].id, a.id, 'an item sent with its id keeps it (in its stored spelling)');
  assert.equal(started.waiting_for[0].started_on, '2025-05-02');
  assert.equal(started.waiting_for[0].ended, 'started');
  const c = started.waiting_for[1];
  assert.ok(![a.id, b.id].includes(c.id), 'an item without id is new');
  assert.equal(started.version, f.version + 2);
  // What GET returned can be sent back as it is: nothing changes.
  const same = await api(server, 'PATCH', `/v1/families/${f.id}`, { token: staff(), body: { waiting_for: started.waiting_for }, headers: MERGE });
  assert.equal(same.body.version, started.version, 'no change, no new version');
  // Members left out of an item sent again are null: the list is taken as sent.
  const reset = await patch(f.id, { waiting_for: [{ id: a.id, module: 'Thuisbegeleiding', since: '2025-03-01' }] });
  assert.deepEqual(reset.waiting_for, [{ id: a.id, module: 'Thuisbegeleiding', sector: null, organisation_id: null, since: '2025-03-01', started_on: null, ended: null }]);
  assert.equal(psql(db, `SELECT count(*) FROM family_waits WHERE family_id = '${f.id}'`), '1');
});

test('an id this family does not have, or one used twice, is 422 naming it; nothing changes', async () => {
  const f = await family({ region: 'gent', label: 'Gezin I.', waiting_for: [item()] });
  const other = await family({ region: 'gent', label: 'Gezin J.', waiting_for: [item()] });
  const mine = f.waiting_for[0];
  const res = await api(server, 'PATCH', `/v1/families/${f.id}`, { token: staff(), headers: MERGE, body: { waiting_for: [
    mine, { ...other.waiting_for[0] }, { ...mine, module: 'Tweede keer' }, item({ id: '00000000-0000-4000-8000-000000000000' }), item({ id: 'not-a-uuid' })] } });
  assertProblem(res, 422, ['/waiting_for/1/id', '/waiting_for/2/id', '/waiting_for/3/id', '/waiting_for/4/id']);
  assert.match(res.body.errors.find((e) => e.field === '/waiting_for/1/id').message, new RegExp(other.waiting_for[0].id));
  assertProblem(await api(server, 'POST', '/v1/families', { token: staff(), body: { region: 'gent', label: 'X', waiting_for: [{ ...mine }] } }), 422, ['/waiting_for/0/id']);
  const now = await api(server, 'GET', `/v1/families/${f.id}`, { token: staff() });
  assert.deepEqual(now.body.waiting_for, f.waiting_for);
  assert.equal(now.body.version, f.version);
});

test('validation names every bad field at once: dates, sector, ended, unknown members, size; nothing stored', async () => {
  const tomorrow = psql(db, "SELECT (g1p_today() + 1)::text");
  const n = Number(psql(db, 'SELECT count(*) FROM families'));
  const bad = {
    region: 'gent', label: 'Gezin V.',
    coach: { sub: 'c', name: 'C', extra: 1 },
    waiting_for: [
      item({ since: '2025-03-10', started_on: '2025-03-09' }),             // started before since
      item({ sector: 'ziekenhuis', ended: 'finished' }),                    // unknown sector and ended
      item({ since: tomorrow }),                                            // since in the future
      item({ started_on: tomorrow }),                                       // care started in the future
      item({ ended: 'started' }),                                           // "started" without started_on
      item({ colour: 'blue', started_on: '2025-02-30' }),                   // unknown member, not a date
    ],
  };
  const res = await api(server, 'POST', '/v1/families', { token: staff(), body: bad });
  assertProblem(res, 422, ['/coach/extra', '/waiting_for/0/started_on', '/waiting_for/1/sector', '/waiting_for/1/ended', '/waiting_for/2/since',
    '/waiting_for/3/started_on', '/waiting_for/4/started_on', '/waiting_for/5/colour', '/waiting_for/5/started_on']);
  assertProblem(await api(server, 'POST', '/v1/families', { token: staff(), body: { region: 'gent', label: 'X', waiting_for: Array.from({ length: 1000 }, () => item()) } }), 422, ['/waiting_for']);
  assertProblem(await api(server, 'POST', '/v1/families', { token: staff(), body: { region: 'gent', label: 'X', waiting_for: Array.from({ length: 21 }, () => item()) } }), 422, ['/waiting_for']);
  assert.equal(Number(psql(db, 'SELECT count(*) FROM families')), n);
  // The same rules on a PATCH; 20 items are fine.
  const f = await family({ region: 'gent', label: 'Gezin V2.', waiting_for: Array.from({ length: 20 }, (_, i) => item({ module: `M${i}` })) });
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}`, { token: staff(), headers: MERGE, body: { waiting_for: [{ ...f.waiting_for[0], started_on: '2025-02-01' }, item({ ended: 'gone' })], coach: { sub: 'c', name: 'C', colour: 1 } } }),
    422, ['/waiting_for/0/started_on', '/waiting_for/1/ended', '/coach/colour']);
  // Ended alone, or with started_on; a since of the past written today is fine.
  const ok = await patch(f.id, { waiting_for: [{ ...f.waiting_for[0], ended: 'no_longer_needed' }, { ...f.waiting_for[1], started_on: TODAY, ended: 'other' }, item({ since: TODAY })] });
  assert.deepEqual(ok.waiting_for.map((w) => [w.started_on, w.ended]), [[null, 'no_longer_needed'], [TODAY, 'other'], [null, null]]);
});

test('since is judged when written: an item kept as it was is not judged again', async () => {
  const f = await family({ region: 'gent', label: 'Gezin S.', waiting_for: [item()] });
  // A stored item from before the rule (a since in the future), as the migration may leave one.
  psql(db, `UPDATE families SET waiting_for = jsonb_set(waiting_for, '{0,since}', to_jsonb((g1p_today() + 10)::text)) WHERE id = '${f.id}'`);
  const stored = (await api(server, 'GET', `/v1/families/${f.id}`, { token: staff() })).body;
  assert.equal((await api(server, 'PATCH', `/v1/families/${f.id}`, { token: staff(), headers: MERGE, body: { label: 'Gezin S2.' } })).status, 200);
  const moved = psql(db, "SELECT (g1p_today() + 11)::text");
  assertProblem(await api(server, 'PATCH', `/v1/families/${f.id}`, { token: staff(), headers: MERGE, body: { waiting_for: [{ ...stored.waiting_for[0], since: moved }] } }), 422, ['/waiting_for/0/since']);
});

test('ended_on is kept server-side: set by the write that first sets ended, kept while it stays set, cleared with it', async () => {
  const f = await family({ region: 'gent', label: 'Gezin E.', waiting_for: [item()] });
  const w = f.waiting_for[0];
  const endedOn = () => psql(db, `SELECT coalesce(ended_on::text, 'null') FROM family_waits WHERE item_id = '${w.id}'`);
  assert.equal(endedOn(), 'null');
  await patch(f.id, { waiting_for: [{ ...w, ended: 'other' }] });
  assert.equal(endedOn(), TODAY);
  psql(db, `UPDATE family_waits SET ended_on = '2025-04-01' WHERE item_id = '${w.id}'`); // as if written then
  await patch(f.id, { waiting_for: [{ ...w, ended: 'no_longer_needed' }] });
  assert.equal(endedOn(), '2025-04-01', 'another reason keeps the day the wait ended');
  await patch(f.id, { waiting_for: [{ ...w, ended: null }] });
  assert.equal(endedOn(), 'null');
  assert.ok(!JSON.stringify((await api(server, 'GET', `/v1/families/${f.id}`, { token: staff() })).body).includes('ended_on'), 'not in the representation');
});

test('families list: waiting=true|false and coach_sub (the current coach), with the other filters', async () => {
  const tok = staff({ regions: ['meetjesland'] });
  const open = await family({ region: 'meetjesland', label: 'Open', coach: { sub: 'coach-x', name: 'X' }, waiting_for: [item({ started_on: '2025-04-01' }), item()] }, tok);
  const started = await family({ region: 'meetjesland', label: 'Gestart', coach: { sub: 'coach-y', name: 'Y' }, waiting_for: [item({ started_on: '2025-04-01', ended: 'started' })] }, tok);
  const ended = await family({ region: 'meetjesland', label: 'Gestopt', coach: { sub: 'coach-x', name: 'X' }, waiting_for: [item({ ended: 'no_longer_needed' })] }, tok);
  const none = await family({ region: 'meetjesland', label: 'Geen' }, tok);
  const ids = async (q) => (await api(server, 'GET', `/v1/families?limit=500&${q}`, { token: tok })).body.items.map((x) => x.id).sort();
  assert.deepEqual(await ids('waiting=true'), [open.id]);
  assert.deepEqual(await ids('waiting=false'), [started.id, ended.id, none.id].sort());
  assert.deepEqual(await ids('coach_sub=coach-x'), [open.id, ended.id].sort());
  assert.deepEqual(await ids('coach_sub=coach-x&waiting=true&region=meetjesland'), [open.id]);
  assert.deepEqual(await ids('coach_sub=coach-x&coach=coach-y'), []);
  // A former coach is not the coach.
  await patch(open.id, { coach: { sub: 'coach-z', name: 'Z' } });
  assert.deepEqual(await ids('coach_sub=coach-x'), [ended.id]);
  assert.deepEqual(await ids('coach_sub=coach-z'), [open.id]);
  // Care started for the last open item: no longer waiting.
  const cur = (await api(server, 'GET', `/v1/families/${open.id}`, { token: tok })).body;
  await patch(open.id, { waiting_for: [cur.waiting_for[0], { ...cur.waiting_for[1], started_on: '2025-05-01' }] });
  assert.deepEqual(await ids('waiting=true'), []);
  for (const q of ['waiting=yes', 'waiting=', 'waiting=TRUE', 'coach_sub=', `coach_sub=${'x'.repeat(256)}`, 'waiting=true&waiting=false', 'coach_subs=x'])
    assertProblem(await api(server, 'GET', `/v1/families?${q}`, { token: tok }), 400);
});

test('coach history: every change kept with its day; a name correction is no change; scoped like a family read', async () => {
  const f = await family({ region: 'gent', label: 'Gezin C.', coach: { sub: 'coach-1', name: 'Een', organisation_id: orgCaw } });
  await patch(f.id, { coach: { name: 'Een (gecorrigeerd)' } });
  await patch(f.id, { coach: { sub: 'coach-2', name: 'Twee', organisation_id: orgCaw } });
  await patch(f.id, { coach: { organisation_id: orgCgg } }); // same person, another organisation: a change
  await patch(f.id, { coach: null });
  await patch(f.id, { coach: { sub: 'coach-3', name: 'Drie' } });
  const list = await api(server, 'GET', `/v1/families/${f.id}/coaches`, { token: staff() });
  assert.equal(list.status, 200);
  const d = TODAY;
  assert.deepEqual(list.body, { items: [
    { sub: 'coach-1', name: 'Een (gecorrigeerd)', organisation_id: orgCaw, from: d, to: d },
    { sub: 'coach-2', name: 'Twee', organisation_id: orgCaw, from: d, to: d },
    { sub: 'coach-2', name: 'Twee', organisation_id: orgCgg, from: d, to: d },
    { sub: 'coach-3', name: 'Drie', organisation_id: null, from: d, to: null },
  ], next_cursor: null });
  assert.equal(psql(db, `SELECT coach_periods FROM families WHERE id = '${f.id}'`), '4');
  // Paging, oldest first.
  const p1 = await api(server, 'GET', `/v1/families/${f.id}/coaches?limit=3`, { token: staff() });
  assert.deepEqual(p1.body.items.map((c) => c.sub), ['coach-1', 'coach-2', 'coach-2']);
  const p2 = await api(server, 'GET', `/v1/families/${f.id}/coaches?limit=3&cursor=${p1.body.next_cursor}`, { token: staff() });
  assert.deepEqual(p2.body, { items: [list.body.items[3]], next_cursor: null });
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/coaches?cursor=${Buffer.from('x').toString('base64url')}`, { token: staff() }), 400);
  // A family without a coach has no history; periods set on other days keep their days.
  const none = await family({ region: 'gent', label: 'Gezin Z.' });
  assert.deepEqual((await api(server, 'GET', `/v1/families/${none.id}/coaches`, { token: staff() })).body, { items: [], next_cursor: null });
  // Scope: other regions and organisations that take no part 404, family tokens 403, unknown ids 404.
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/coaches`, { token: staff({ regions: ['meetjesland'] }) }), 404);
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/coaches`, { token: staff({ org: orgCaw }) }), 404); // coach now of no organisation
  assertProblem(await api(server, 'GET', `/v1/families/${f.id}/coaches`, { token: token({ scope: 'plan:family', family: f.id }) }), 403);
  assertProblem(await api(server, 'GET', '/v1/families/00000000-0000-4000-8000-000000000000/coaches', { token: staff() }), 404);
  assertProblem(await api(server, 'GET', '/v1/families/nope/coaches', { token: staff() }), 404);
  const c = await family({ region: 'gent', label: 'Gezin O.', coach: { sub: 'coach-o', name: 'O', organisation_id: orgCaw } });
  assert.equal((await api(server, 'GET', `/v1/families/${c.id}/coaches`, { token: staff({ org: orgCaw, scope: 'plans:read' }) })).body.items.length, 1);
  // Not audited, like a family read.
  assert.equal(psql(db, `SELECT count(*) FROM audit_log WHERE resource_id = '${f.id}' AND action = 'read'`), '0');
});

// ---- metrics on a known data set -------------------------------------------

// Contacted referral (received on `received_on`) that starts a family in region.
async function startedFamily(region, received_on, body = {}) {
  const r = await api(server, 'POST', '/v1/referrals', { token: staff(), body: { region, referrer: { kind: 'self' }, received_on, question: 'GEHEIM', question_kind: 'consult', family: { label: 'GEHEIM', postcode: '9000' } } });
  assert.equal(r.status, 201, r.text);
  assert.equal((await api(server, 'POST', `/v1/referrals/${r.body.id}/first-contact`, { token: staff(), body: { held_on: received_on, mode: 'home' } })).status, 200);
  return family({ referral_id: r.body.id, ...body });
}

let fams;
async function metricsData() {
  if (fams) return fams;
  fams = {};
  const w = (since, started_on = null, ended = null) => ({ module: 'GEHEIM-MODULE', since, started_on, ended });
  // Bridging and waiting (stand-alone families, region brug-a unless said):
  fams.A = await family({ region: 'brug-a', label: 'A', coach: { sub: 'c-a', name: 'A', organisation_id: orgCaw },   // two modules, overlapping
    waiting_for: [w('2024-01-15', '2024-03-10'), w('2024-02-01', '2024-04-01')] });                                  // 55 and 60 days
  fams.B = await family({ region: 'brug-a', label: 'B', waiting_for: [w('2024-01-31', '2024-02-29')] });             // month edges, leap day: 29 days
  fams.C = await family({ region: 'brug-a', label: 'C', waiting_for: [w('2024-02-10', '2024-06-03')] });             // care after the period: 114 days
  fams.D = await family({ region: 'brug-a', label: 'D', waiting_for: [w('2024-03-01', null, 'no_longer_needed')] }); // ended on 2024-04-01 (set below)
  fams.E = await family({ region: 'brug-a', label: 'E', waiting_for: [w('2024-03-15')] });                           // still waits
  fams.F = await family({ region: 'brug-b', label: 'F', waiting_for: [w('2024-01-10', '2024-01-20')] });             // other region: 10 days
  fams.G = await family({ region: 'brug-a', label: 'G', waiting_for: [w('2024-05-01', null, 'other')] });            // ended today
  fams.H = await family({ region: 'brug-a', label: 'H', waiting_for: [w('2024-04-10', '2024-04-10', 'started')] });  // care on the first day: 0 days
  // D's wait ended on 2024-04-01: the day of the write that set `ended`, which a test cannot wait for.
  psql(db, `UPDATE family_waits SET ended_on = '2024-04-01' WHERE family_id = '${fams.D.id}'; SELECT g1p_bridging_refresh('${fams.D.id}')`);
  // C's plan has the CAW as participant (an organisation takes part in it).
  assert.equal((await api(server, 'PUT', `/v1/families/${fams.C.id}/plan`, { token: staff(), headers: { 'if-none-match': '*' }, body: { family_question: 'Q', participants: [{ role: 'professional', name: 'P', organisation_id: orgCaw }] } })).status, 201);
  // Continuity (families started from referrals, brug-a):
  fams.K1 = await startedFamily('brug-a', '2024-01-05', { coach: { sub: 'k-1', name: 'K', organisation_id: orgCaw } }); // one coach
  fams.K2 = await startedFamily('brug-a', '2024-01-06', { coach: { sub: 'k-2a', name: 'K' } });                          // changed twice
  await patch(fams.K2.id, { coach: { sub: 'k-2b', name: 'K' } });
  await patch(fams.K2.id, { coach: { sub: 'k-2c', name: 'K' } });
  fams.K3 = await startedFamily('brug-a', '2024-01-07');                                                                // never a coach
  fams.K4 = await startedFamily('brug-a', '2024-02-03');                                                                // coach set later: one
  await patch(fams.K4.id, { coach: { sub: 'k-4', name: 'K' } });
  fams.K5 = await startedFamily('brug-a', '2024-02-04', { coach: { sub: 'k-5', name: 'K' } });                           // renamed only: one
  await patch(fams.K5.id, { coach: { name: 'K. (nieuwe naam)' } });
  fams.K6 = await startedFamily('brug-a', '2024-02-05', { coach: { sub: 'k-6', name: 'K' } });                           // removed, set again: a change
  await patch(fams.K6.id, { coach: null });
  await patch(fams.K6.id, { coach: { sub: 'k-6', name: 'K' } });
  // A later referral joining K1 starts no family.
  const later = await api(server, 'POST', '/v1/referrals', { token: staff(), body: { region: 'brug-a', referrer: { kind: 'self' }, received_on: '2024-01-08', question: 'Q', question_kind: 'consult', family: { label: 'L', postcode: '9000' } } });
  await api(server, 'POST', `/v1/referrals/${later.body.id}/first-contact`, { token: staff(), body: { held_on: '2024-01-09', mode: 'home' } });
  assert.equal((await api(server, 'POST', `/v1/families/${fams.K1.id}/referrals`, { token: staff(), body: { referral_id: later.body.id } })).status, 200);
  return fams;
}

const pick = (r) => [r.region, r.month, r.families_bridging, r.median_days_waiting_for_care, r.families_with_one_coach_rate];

test('metrics by region and month: families bridging on each month end, median days waited, one-coach rate', async () => {
  await metricsData();
  const res = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-06-30&group_by=region,month', { token: reporter() });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.rows.map(pick), [
    // Jan 31: A (waits for both), B (since the 31st). K1, K2 coached, K1 kept one coach; K3 never had one.
    ['brug-a', '2024-01', 2, null, 1 / 2],
    // Feb 29: A, C; B's care started on the 29th itself. Median: B's 29 days. K4, K5 one coach; K6 removed and set again.
    ['brug-a', '2024-02', 2, 29, 2 / 3],
    // Mar 31: A (second module until Apr 1), C, D (ended Apr 1), E. Median: A's first module, 55 days.
    ['brug-a', '2024-03', 4, 55, null],
    // Apr 30: C, E. Median of A's 60 and H's 0 days: 30.
    ['brug-a', '2024-04', 2, 30, null],
    // May 31: C, E, G (ended only today).
    ['brug-a', '2024-05', 3, null, null],
    // Jun 30: E, G; C's care started on Jun 3 (114 days).
    ['brug-a', '2024-06', 2, 114, null],
    ['brug-b', '2024-01', 0, 10, null],
    ['brug-b', '2024-02', 0, null, null],
    ['brug-b', '2024-03', 0, null, null],
    ['brug-b', '2024-04', 0, null, null],
    ['brug-b', '2024-05', 0, null, null],
    ['brug-b', '2024-06', 0, null, null],
  ]);
  assert.deepEqual(res.body.rows.slice(0, 2).map((r) => r.families_started), [3, 3]);
});

test('metrics: partial months, one row, by region, today as the last day, future periods null, CSV', async () => {
  await metricsData();
  const rows = async (q, tok = reporter()) => (await api(server, 'GET', `/v1/metrics?${q}`, { token: tok })).body.rows.map(pick);
  // Partial first and last month: the first period is Jan 20..31 (F's care started on the
  // 20th; K1..K3 were received before it), the last Mar 1..15 (bridging on the 15th).
  assert.deepEqual(await rows('from=2024-01-20&to=2024-03-15&group_by=month'), [
    [null, '2024-01', 2, 10, null], [null, '2024-02', 2, 29, 2 / 3], [null, '2024-03', 4, 55, null]]);
  assert.deepEqual(await rows('from=2024-01-21&to=2024-01-31&group_by=month'), [[null, '2024-01', 2, null, null]]);
  // One row: bridging on Jun 30 (E, G); median of 0, 10, 29, 55, 60, 114; 3 of 5 coached families kept one coach.
  assert.deepEqual(await rows('from=2024-01-01&to=2024-06-30'), [[null, null, 2, 42, 3 / 5]]);
  assert.deepEqual(await rows('from=2024-01-01&to=2024-06-30&group_by=region'), [['brug-a', null, 2, 55, 3 / 5], ['brug-b', null, 0, 10, null]]);
  // Up to today: G's wait ended today, so only E still waits.
  assert.deepEqual(await rows(`from=2024-01-01&to=${TODAY}&region=brug-a`), [[null, null, 1, 55, 3 / 5]]);
  // A range reaching past today ends today; months that start after today have no figure yet.
  const future = psql(db, "SELECT (date_trunc('month', g1p_today()) + interval '1 month')::date::text");
  const thisMonth = TODAY.slice(0, 7);
  const ahead = await rows(`from=${TODAY.slice(0, 8)}01&to=${future}&group_by=month&region=brug-a`);
  assert.deepEqual(ahead, [[null, thisMonth, 1, null, null], [null, future.slice(0, 7), null, null, null]]);
  // CSV carries the same figures.
  const csv = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-02-29&group_by=region,month&format=csv', { token: reporter() });
  const lines = csv.text.trimEnd().split('\r\n');
  assert.ok(lines[0].endsWith(',families_bridging,median_days_waiting_for_care,families_with_one_coach_rate'));
  assert.ok(lines.includes('brug-a,2024-01,4,4,4,1,0,4,0,3,200,2,,0.5'), lines.join('\n'));
  assert.ok(lines.includes('brug-a,2024-02,3,3,3,1,0,3,0,3,200,2,29,0.6666666667'), lines.join('\n'));
  assert.doesNotMatch(csv.text + JSON.stringify(await rows('from=2024-01-01&to=2024-06-30')), /GEHEIM/);
});

test('metrics for a token with org: the families its organisation coaches or takes part in', async () => {
  await metricsData();
  const res = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-06-30&group_by=month', { token: reporter({ org: orgCaw }) });
  // A is coached by the CAW, C has it in its plan; K1 is the one started family it coaches.
  assert.deepEqual(res.body.rows.map(pick), [
    [null, '2024-01', 1, null, 1], [null, '2024-02', 2, null, null], [null, '2024-03', 2, 55, null],
    [null, '2024-04', 1, 60, null], [null, '2024-05', 1, null, null], [null, '2024-06', 0, 114, null]]);
  // The referral figures keep the referrals the organisation made: none here.
  assert.deepEqual(res.body.rows.map((r) => r.families_started), [0, 0, 0, 0, 0, 0]);
});

test('erasure: coach history names go, every figure stays; the export lists the coaches', async () => {
  await metricsData();
  const privacy = token({ sub: 'dpo', scope: 'privacy', regions: ['*'] });
  const exp = await api(server, 'GET', `/v1/families/${fams.K2.id}/export`, { token: privacy });
  assert.deepEqual(exp.body.coaches.map((c) => [c.sub, c.name, c.to === null]), [['k-2a', 'K', false], ['k-2b', 'K', false], ['k-2c', 'K', true]]);
  const figures = () => Promise.all(['from=2024-01-01&to=2024-06-30&group_by=region,month', `from=2024-01-01&to=${TODAY}`]
    .map((q) => api(server, 'GET', `/v1/metrics?${q}`, { token: reporter() }).then((r) => r.text)));
  const before = await figures();
  for (const f of [fams.A, fams.K2]) assert.equal((await api(server, 'POST', `/v1/families/${f.id}/erasure`, { token: privacy, body: { reason: 'request' } })).status, 200);
  assert.deepEqual(await figures(), before);
  const after = await api(server, 'GET', `/v1/families/${fams.K2.id}/coaches`, { token: staff() });
  assert.deepEqual(after.body.items.map((c) => [c.sub, c.name]), [['k-2a', 'erased'], ['k-2b', 'erased'], ['k-2c', 'erased']]);
  const a = (await api(server, 'GET', `/v1/families/${fams.A.id}`, { token: staff() })).body;
  assert.deepEqual(a.waiting_for.map((w) => [w.module, w.since, w.started_on]), [[undefined, '2024-01-15', '2024-03-10'], [undefined, '2024-02-01', '2024-04-01']]);
});

// ---- the migration of existing rows ------------------------------------------

test('sql/010 migrates existing families without loss, without new versions, change rows or webhook events', async () => {
  const mdb = freshDb('bridging_migration');
  // The schema as 009 left it, applied the way the server applies migrations.
  const files = fs.readdirSync(path.join(ROOT, 'sql')).filter((f) => f < '010').sort();
  psql(mdb, 'CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const f of files) {
    psql(mdb, `BEGIN; ${fs.readFileSync(path.join(ROOT, 'sql', f), 'utf8')}; INSERT INTO schema_migrations (name) VALUES ('${f}'); COMMIT;`);
  }
  const org = psql(mdb, "INSERT INTO organisations (name, sector) VALUES ('CAW', 'caw') RETURNING id");
  psql(mdb, "INSERT INTO webhooks (url, events, created_by, reads_referrals, reads_families, secret) VALUES ('https://example.org/h', '{*}', 's', true, true, 'x')");
  const old = [
    { label: 'Twee', coach: ['c-1', 'Coach Een', org], waiting: [{ module: 'Thuisbegeleiding', since: '2025-03-01' }, { module: 'CGG', organisation_id: org, since: '2025-04-01' }] },
    { label: 'Geen', coach: null, waiting: [] },
  ];
  const ids = old.map((o) => psql(mdb, `INSERT INTO families (region, label, coach_sub, coach_name, coach_organisation_id, waiting_for, created_by, created_at)
    VALUES ('gent', '${o.label}', ${o.coach ? `'${o.coach[0]}', '${o.coach[1]}', '${o.coach[2]}'` : 'NULL, NULL, NULL'}, '${JSON.stringify(o.waiting)}', 'x', '2025-02-03 10:00+01') RETURNING id`));
  // The first family was started from a referral received on 2025-01-20.
  psql(mdb, `INSERT INTO referrals (region, referrer_kind, content_hash, received_on, question, question_kind, family_label, family_postcode,
    status, first_contact_on, first_contact_mode, created_by, family_id, started_family)
    VALUES ('gent', 'self', 'h', '2025-01-20', 'Q', 'consult', 'L', '9000', 'in_trajectory', '2025-01-22', 'home', 'x', '${ids[0]}', true)`);
  // An erased family: its items have no module.
  const erased = psql(mdb, `INSERT INTO families (region, label, coach_sub, coach_name, waiting_for, created_by) VALUES ('gent', 'Weg', 'c-2', 'Coach Twee', '[{"module": "GEHEIM", "since": "2025-03-01"}]', 'x') RETURNING id`);
  psql(mdb, `SELECT g1p_erase_family('${erased}', 'request', NULL, 'dpo')`);
  const snapshot = () => psql(mdb, "SELECT json_agg(json_build_object('id', id, 'version', version, 'updated_at', updated_at) ORDER BY id) FROM families");
  const before = snapshot();
  const counts = () => psql(mdb, 'SELECT (SELECT count(*) FROM changes) || \'/\' || (SELECT count(*) FROM webhook_deliveries)');
  const countsBefore = counts();
  const srv = await startServer({ db: mdb, env: { WEBHOOK_WORKERS: '0' } });
  try {
    assert.equal(snapshot(), before, 'no version or updated_at changed');
    assert.equal(counts(), countsBefore, 'no change rows, no deliveries');
    const f = (await api(srv, 'GET', `/v1/families/${ids[0]}`, { token: staff() })).body;
    assert.deepEqual(f.waiting_for.map((w) => ({ ...w, id: typeof w.id })), [
      { id: 'string', module: 'Thuisbegeleiding', sector: null, organisation_id: null, since: '2025-03-01', started_on: null, ended: null },
      { id: 'string', module: 'CGG', sector: null, organisation_id: org, since: '2025-04-01', started_on: null, ended: null }]);
    assert.equal(f.version, 1);
    // The items have ids that stay, and family_waits/family_bridging follow.
    assert.equal(psql(mdb, `SELECT count(*) FROM family_waits WHERE family_id = '${ids[0]}'`), '2');
    assert.equal(psql(mdb, `SELECT from_on || '/' || coalesce(to_on::text, 'open') FROM family_bridging WHERE family_id = '${ids[0]}'`), '2025-03-01/open');
    const again = await api(srv, 'PATCH', `/v1/families/${ids[0]}`, { token: staff(), headers: MERGE, body: { waiting_for: [{ ...f.waiting_for[1], started_on: '2025-05-01' }] } });
    assert.equal(again.body.waiting_for[0].id, f.waiting_for[1].id);
    // The coach set before the history was kept: one period from the family's start.
    assert.deepEqual((await api(srv, 'GET', `/v1/families/${ids[0]}/coaches`, { token: staff() })).body.items,
      [{ sub: 'c-1', name: 'Coach Een', organisation_id: org, from: '2025-02-03', to: null }]);
    assert.deepEqual((await api(srv, 'GET', `/v1/families/${ids[1]}/coaches`, { token: staff() })).body.items, []);
    // The family the referral started counts for the one-coach rate of its month.
    assert.equal(psql(mdb, `SELECT referral_received_on FROM families WHERE id = '${ids[0]}'`), '2025-01-20');
    const m = await api(srv, 'GET', '/v1/metrics?from=2025-01-01&to=2025-01-31&region=gent', { token: token({ scope: 'metrics:read' }) });
    assert.deepEqual([m.body.rows[0].families_started, m.body.rows[0].families_with_one_coach_rate], [1, 1]);
    const e = (await api(srv, 'GET', `/v1/families/${erased}`, { token: staff() })).body;
    assert.equal(e.waiting_for[0].module, undefined);
    assert.equal(e.waiting_for[0].since, '2025-03-01');
    assert.equal((await api(srv, 'GET', `/v1/families/${erased}/coaches`, { token: staff() })).body.items[0].name, 'erased');
    assert.equal(psql(mdb, "SELECT count(*) FROM families WHERE waiting_for::text LIKE '%GEHEIM%'"), '0');
  } finally {
    await srv.stop();
  }
});
