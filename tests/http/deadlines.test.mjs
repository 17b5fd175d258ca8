// The one-month first-contact deadline: the calendar-month rule, states on
// as_of, pauses (inclusive days, no overlaps, open pauses counting up to
// as_of), the overdue list and its filters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('deadlines'); server = await startServer({ db }); });
after(async () => { await server?.stop(); });

const gent = () => token({ sub: 'coordinator-gent', scope: 'referrals:read referrals:write', regions: ['gent'] });
const daysAgo = (n) => new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);

async function push(received_on, region = 'gent', tok = gent()) {
  const res = await api(server, 'POST', '/v1/referrals', {
    token: tok,
    body: { region, referrer: { kind: 'self' }, received_on, question: 'Vraag', question_kind: 'unclear', family: { label: 'Gezin', postcode: '9000' } },
  });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function deadline(id, asOf, extra = '') {
  const res = await api(server, 'GET', `/v1/deadlines?as_of=${asOf}&limit=500${extra}`, { token: gent() });
  assert.equal(res.status, 200);
  return res.body.items.find((d) => d.referral_id === id);
}

test('first_contact_due = received_on + 1 calendar month, clamped to the month end', async () => {
  const table = {
    '2025-01-31': '2025-02-28', '2024-01-31': '2024-02-29', '2024-01-30': '2024-02-29', '2025-01-30': '2025-02-28',
    '2025-03-31': '2025-04-30', '2025-12-31': '2026-01-31', '2024-02-29': '2024-03-29', '2025-02-03': '2025-03-03',
  };
  for (const [received, due] of Object.entries(table)) {
    const r = await push(received);
    assert.equal(r.first_contact_due_original, due, received);
    assert.equal(r.first_contact_due, due, received);
  }
});

test('states and days_remaining on as_of: open, due_soon, overdue', async () => {
  const r = await push('2025-01-10'); // due 2025-02-10
  assert.deepEqual(await deadline(r.id, '2025-01-20'), {
    referral_id: r.id, region: 'gent', received_on: '2025-01-10', due_on: '2025-02-10', first_contact_on: null, state: 'open', days_remaining: 21,
  });
  assert.equal((await deadline(r.id, '2025-02-02')).state, 'open');
  assert.equal((await deadline(r.id, '2025-02-03')).state, 'due_soon');
  assert.equal((await deadline(r.id, '2025-02-10')).days_remaining, 0);
  assert.equal((await deadline(r.id, '2025-02-10')).state, 'due_soon');
  const late = await deadline(r.id, '2025-02-11');
  assert.equal(late.state, 'overdue');
  assert.equal(late.days_remaining, -1);
  assert.equal(await deadline(r.id, '2025-01-09'), undefined, 'not listed before it was received');
});

test('met, met_late and cancelled; days_remaining null once settled', async () => {
  const met = await push('2025-01-10');
  await api(server, 'POST', `/v1/referrals/${met.id}/first-contact`, { token: gent(), body: { held_on: '2025-02-10', mode: 'home' } });
  const late = await push('2025-01-10');
  await api(server, 'POST', `/v1/referrals/${late.id}/first-contact`, { token: gent(), body: { held_on: '2025-02-11', mode: 'phone' } });
  const gone = await push('2025-01-10');
  await api(server, 'PATCH', `/v1/referrals/${gone.id}`, { token: gent(), body: { status: 'withdrawn', closed_on: '2025-01-20' } });
  const m = await deadline(met.id, '2025-03-01');
  assert.equal(m.state, 'met');
  assert.equal(m.first_contact_on, '2025-02-10');
  assert.equal(m.days_remaining, null);
  assert.equal((await deadline(late.id, '2025-03-01')).state, 'met_late');
  const c = await deadline(gone.id, '2025-03-01');
  assert.equal(c.state, 'cancelled');
  assert.equal(c.days_remaining, null);
  // evaluated on as_of: before the contact it was still open
  assert.equal((await deadline(met.id, '2025-01-15')).state, 'open');
  assert.equal((await deadline(gone.id, '2025-01-15')).state, 'open');
});

test('pauses: inclusive days move the due date; the original stays; paused state', async () => {
  const r = await push('2025-02-01'); // due 2025-03-01
  const p = await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-02-03', to: '2025-02-07', reason: 'family_unreachable', note: 'Geen antwoord op 3 oproepen' } });
  assert.equal(p.status, 201);
  assert.equal(p.headers.get('location'), `/v1/referrals/${r.id}/deadline-pauses/${p.body.id}`);
  assert.equal(p.body.days, 5);
  assert.equal(p.body.created_by, 'coordinator-gent');
  const after1 = (await api(server, 'GET', `/v1/referrals/${r.id}`, { token: gent() })).body;
  assert.equal(after1.first_contact_due, '2025-03-06');
  assert.equal(after1.first_contact_due_original, '2025-03-01');
  assert.equal(after1.deadline_pauses.length, 1);
  assert.equal((await deadline(r.id, '2025-02-05')).state, 'paused');
  assert.equal((await deadline(r.id, '2025-03-05')).due_on, '2025-03-06');

  // an open pause counts up to as_of
  const open = await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-02-10', to: null, reason: 'family_postponed' } });
  assert.equal(open.status, 201);
  assert.equal(open.body.to, null);
  assert.equal(open.body.days, null);
  const during = await deadline(r.id, '2025-02-12');
  assert.equal(during.state, 'paused');
  assert.equal(during.due_on, '2025-03-09');
  // close it: three days (10, 11, 12)
  const closed = await api(server, 'PATCH', `/v1/referrals/${r.id}/deadline-pauses/${open.body.id}`, { token: gent(), body: { to: '2025-02-12' }, headers: { 'if-match': '"1"' } });
  assert.equal(closed.status, 200);
  assert.equal(closed.body.days, 3);
  assert.equal((await deadline(r.id, '2025-03-08')).due_on, '2025-03-09');
  assert.equal((await deadline(r.id, '2025-03-10')).state, 'overdue');
  // shorten it: the deadline follows
  await api(server, 'PATCH', `/v1/referrals/${r.id}/deadline-pauses/${open.body.id}`, { token: gent(), body: { to: '2025-02-11' } });
  assert.equal((await api(server, 'GET', `/v1/referrals/${r.id}`, { token: gent() })).body.first_contact_due, '2025-03-08');
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${r.id}/deadline-pauses/${open.body.id}`, { token: gent(), body: { to: '2025-02-20' }, headers: { 'if-match': '"1"' } }), 412);
  const list = await api(server, 'GET', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent() });
  assert.deepEqual(list.body.items.map((x) => x.from), ['2025-02-03', '2025-02-10']);
  const one = await api(server, 'GET', `/v1/referrals/${r.id}/deadline-pauses/${p.body.id}`, { token: gent() });
  assert.equal(one.body.note, 'Geen antwoord op 3 oproepen');
});

test('pauses never overlap, lie after receipt and before the contact, are not in the future', async () => {
  const r = await push('2025-03-01');
  const first = await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-05', to: '2025-03-10', reason: 'other' } });
  assert.equal(first.status, 201);
  const overlap = await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-10', to: '2025-03-12', reason: 'other' } });
  assertProblem(overlap, 409);
  assert.equal(overlap.body.pause_id, first.body.id);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-01', to: null, reason: 'other' } }), 409);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-02-20', to: '2025-02-21', reason: 'other' } }), 422, ['/from']);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-20', to: '2025-03-19', reason: 'holiday' } }), 422, ['/reason']);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-20', to: '2025-03-19', reason: 'other' } }), 422, ['/to']);
  const future = new Date(Date.now() + 5 * 86400000).toISOString().slice(0, 10);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-20', to: future, reason: 'other' } }), 422, ['/to']);
  // an open pause is closed by the first contact, the day before it
  const open = await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-20', reason: 'family_unreachable' } });
  assert.equal(open.status, 201);
  const contact = await api(server, 'POST', `/v1/referrals/${r.id}/first-contact`, { token: gent(), body: { held_on: '2025-03-25', mode: 'home' } });
  assert.equal(contact.status, 200);
  const pauses = contact.body.deadline_pauses;
  assert.equal(pauses[1].to, '2025-03-24');
  // 6 + 5 paused days: due 2025-04-01 + 11
  assert.equal(contact.body.first_contact_due, '2025-04-12');
  assert.equal((await deadline(r.id, '2025-05-01')).state, 'met');
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-03-26', to: '2025-03-27', reason: 'other' } }), 409);
  const n = Number(psql(db, `SELECT count(*) FROM deadline_pauses WHERE referral_id = '${r.id}'`));
  assert.equal(n, 2);
});

test('a contact before or inside a recorded pause is refused', async () => {
  const r = await push('2025-04-01');
  await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: gent(), body: { from: '2025-04-10', to: '2025-04-20', reason: 'other' } });
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/first-contact`, { token: gent(), body: { held_on: '2025-04-05', mode: 'office' } }), 409);
  // backdated into the pause: the days after the contact would still move the deadline
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/first-contact`, { token: gent(), body: { held_on: '2025-04-15', mode: 'office' } }), 409);
  assert.equal(psql(db, `SELECT status FROM referrals WHERE id = '${r.id}'`), 'received');
  assert.equal((await api(server, 'POST', `/v1/referrals/${r.id}/first-contact`, { token: gent(), body: { held_on: '2025-04-20', mode: 'office' } })).status, 200);
});

test('the overdue list (today): index path, sorted by due date, filters and pagination', async () => {
  const ids = [];
  for (const n of [70, 65, 60, 45, 40]) ids.push((await push(daysAgo(n))).id);
  const fresh = await push(daysAgo(2)); // not overdue
  const elsewhere = await push(daysAgo(80), 'meetjesland', token({ scope: 'referrals:write', regions: ['meetjesland'] }));
  const res = await api(server, 'GET', '/v1/deadlines?state=overdue&limit=500', { token: gent() });
  assert.equal(res.status, 200);
  const got = res.body.items.map((d) => d.referral_id);
  for (const id of ids) assert.ok(got.includes(id));
  assert.ok(!got.includes(fresh.id));
  assert.ok(!got.includes(elsewhere.id), 'other regions are not visible');
  assert.ok(res.body.items.every((d) => d.state === 'overdue' && d.days_remaining < 0 && d.first_contact_on === null));
  const dues = res.body.items.map((d) => d.due_on);
  assert.deepEqual(dues, [...dues].sort());

  const pages = [];
  let cursor = null;
  do {
    const page = await api(server, 'GET', `/v1/deadlines?state=overdue&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: gent() });
    pages.push(...page.body.items.map((d) => d.referral_id));
    cursor = page.body.next_cursor;
  } while (cursor);
  assert.deepEqual(pages, got);

  const before = await api(server, 'GET', `/v1/deadlines?state=overdue&due_before=${daysAgo(30)}&limit=500`, { token: gent() });
  assert.ok(before.body.items.every((d) => d.due_on < daysAgo(30)));
  assert.ok(before.body.items.length < got.length);
  const after = await api(server, 'GET', `/v1/deadlines?due_after=${daysAgo(1)}&region=gent&limit=500`, { token: gent() });
  assert.ok(after.body.items.some((d) => d.referral_id === fresh.id));
  assert.ok(after.body.items.every((d) => d.due_on > daysAgo(1)));
  const all = await api(server, 'GET', '/v1/deadlines?region=meetjesland', { token: token({ scope: 'referrals:read', regions: ['*'] }) });
  assert.deepEqual(all.body.items.map((d) => d.referral_id), [elsewhere.id]);
});

test('bad parameters are 400; scopes and regions enforced on pauses', async () => {
  for (const q of ['state=late', 'as_of=2025-02-30', 'due_before=tomorrow', 'due_after=1', 'region=No', 'cursor=xyz', 'limit=1000']) {
    assertProblem(await api(server, 'GET', `/v1/deadlines?${q}`, { token: gent() }), 400);
  }
  assertProblem(await api(server, 'GET', '/v1/deadlines', { token: token({ scope: 'plans:read', regions: ['gent'] }) }), 403);
  const r = await push('2025-05-01');
  const other = token({ scope: 'referrals:read referrals:write', regions: ['meetjesland'] });
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: other, body: { from: '2025-05-02', to: '2025-05-03', reason: 'other' } }), 404);
  assertProblem(await api(server, 'GET', `/v1/referrals/${r.id}/deadline-pauses`, { token: other }), 404);
  assertProblem(await api(server, 'POST', `/v1/referrals/${r.id}/deadline-pauses`, { token: token({ scope: 'referrals:read', regions: ['gent'] }), body: { from: '2025-05-02', to: '2025-05-03', reason: 'other' } }), 403);
  assertProblem(await api(server, 'PATCH', `/v1/referrals/${r.id}/deadline-pauses/00000000-0000-4000-8000-000000000000`, { token: gent(), body: { to: '2025-05-03' } }), 404);
  assert.equal(Number(psql(db, `SELECT count(*) FROM deadline_pauses WHERE referral_id = '${r.id}'`)), 0);
});
