// Metrics: every figure of a known data set, month boundaries and a leap
// day, late contacts, pauses, withdrawn and still-open referrals; CSV; scope;
// and no personal data in any response.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token } from './lib.mjs';

let server;
const staff = () => token({ sub: 'coord', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['*'] });
const reporter = (claims = {}) => token({ sub: 'report-script', scope: 'metrics:read', regions: ['*'], ...claims });

async function referral(region, received_on, { contact, pause, withdraw, family } = {}) {
  const res = await api(server, 'POST', '/v1/referrals', {
    token: staff(),
    body: { region, referrer: { kind: 'self' }, received_on, question: 'GEHEIM-VRAAG over het gezin', question_kind: 'consult', family: { label: 'GEHEIM-LABEL', postcode: '9000' } },
  });
  assert.equal(res.status, 201, res.text);
  const id = res.body.id;
  if (pause) assert.equal((await api(server, 'POST', `/v1/referrals/${id}/deadline-pauses`, { token: staff(), body: { from: pause[0], to: pause[1], reason: 'family_unreachable' } })).status, 201);
  if (contact) assert.equal((await api(server, 'POST', `/v1/referrals/${id}/first-contact`, { token: staff(), body: { held_on: contact, mode: 'home' } })).status, 200);
  if (withdraw) assert.equal((await api(server, 'PATCH', `/v1/referrals/${id}`, { token: staff(), body: { status: 'withdrawn', closed_on: withdraw } })).status, 200);
  if (family) assert.equal((await api(server, 'POST', '/v1/families', { token: staff(), body: { referral_id: id } })).status, 201);
  return id;
}

before(async () => {
  server = await startServer({ db: freshDb('metrics') });
  await referral('gent', '2024-01-31', { contact: '2024-02-29' });                              // due 02-29 (leap): within, delay 29
  await referral('gent', '2024-01-15', { contact: '2024-02-20' });                              // due 02-15: late, delay 36
  await referral('gent', '2024-01-10', { pause: ['2024-01-12', '2024-01-16'], contact: '2024-02-14' }); // due 02-15 after 5 paused days; original 02-10: delay 35
  await referral('gent', '2024-01-20', { withdraw: '2024-01-25' });                            // cancelled
  await referral('gent', '2024-02-01');                                                          // never contacted: due 03-01
  await referral('gent', '2024-02-29', { contact: '2024-03-05', family: true });               // within, delay 5, started a family
  await referral('meetjesland', '2024-02-10', { contact: '2024-02-12' });                       // within, delay 2
  await referral('gent', '2024-03-31', { contact: '2024-04-02' });                              // within, delay 2
});
after(async () => { await server?.stop(); });

const row = (region, month, f) => ({
  region, month, referrals_received: 0, first_contacts_held: 0, first_contacts_within_deadline: 0, within_deadline_rate: null,
  median_days_to_first_contact: null, first_contacts_within_original_deadline: 0, open_overdue: 0, families_started: 0,
  annual_family_target: 200, families_bridging: 0, median_days_waiting_for_care: null, families_with_one_coach_rate: null, ...f,
});

test('by region and month: every figure, including empty groups', async () => {
  const res = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-02-29&group_by=region,month', { token: reporter() });
  assert.equal(res.status, 200);
  assert.equal(res.body.from, '2024-01-01');
  assert.equal(res.body.to, '2024-02-29');
  assert.equal(res.body.rows.length, 6 * 2);
  const get = (r, m) => res.body.rows.find((x) => x.region === r && x.month === m);
  assert.deepEqual(get('gent', '2024-01'), row('gent', '2024-01', {
    referrals_received: 4, first_contacts_held: 3, first_contacts_within_deadline: 2, within_deadline_rate: 2 / 3,
    median_days_to_first_contact: 35, first_contacts_within_original_deadline: 1,
  }));
  // the never-contacted referral is due 2024-03-01: not yet overdue on 2024-02-29 (to)
  assert.deepEqual(get('gent', '2024-02'), row('gent', '2024-02', {
    referrals_received: 2, first_contacts_held: 1, first_contacts_within_deadline: 1, within_deadline_rate: 1,
    median_days_to_first_contact: 5, first_contacts_within_original_deadline: 1, families_started: 1,
  }));
  assert.deepEqual(get('meetjesland', '2024-01'), row('meetjesland', '2024-01', {}));
  assert.deepEqual(get('meetjesland', '2024-02'), row('meetjesland', '2024-02', {
    referrals_received: 1, first_contacts_held: 1, first_contacts_within_deadline: 1, within_deadline_rate: 1,
    median_days_to_first_contact: 2, first_contacts_within_original_deadline: 1,
  }));
  const keys = res.body.rows.map((r) => `${r.region}|${r.month}`);
  assert.deepEqual(keys, [...keys].sort());
});

test('one total row; an even count takes the mean of the middle two; overdue counts to min(to, today)', async () => {
  const res = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-12-31', { token: reporter() });
  assert.deepEqual(res.body.rows, [row(null, null, {
    referrals_received: 8, first_contacts_held: 6, first_contacts_within_deadline: 5, within_deadline_rate: 5 / 6,
    median_days_to_first_contact: 17, first_contacts_within_original_deadline: 4, open_overdue: 1, families_started: 1,
    annual_family_target: 1200,
  })]);
  const byMonth = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-04-30&group_by=month', { token: reporter() });
  assert.deepEqual(byMonth.body.rows.map((r) => [r.month, r.referrals_received, r.annual_family_target]),
    [['2024-01', 4, 1200], ['2024-02', 3, 1200], ['2024-03', 1, 1200], ['2024-04', 0, 1200]]);
  assert.equal(byMonth.body.rows[0].region, null);
  const byRegion = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-12-31&group_by=region&region=gent', { token: reporter() });
  assert.deepEqual(byRegion.body.rows.map((r) => [r.region, r.referrals_received, r.open_overdue]), [['gent', 7, 1]]);
  const empty = await api(server, 'GET', '/v1/metrics?from=2030-01-01&to=2030-01-31', { token: reporter() });
  // a range wholly after today has no last day yet: families_bridging is null
  assert.deepEqual(empty.body.rows, [row(null, null, { annual_family_target: 1200, families_bridging: null })]);
});

test('a token sees the metrics of its regions only', async () => {
  const res = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-12-31&group_by=region', { token: reporter({ regions: ['meetjesland'] }) });
  assert.deepEqual(res.body.rows.map((r) => [r.region, r.referrals_received]), [['meetjesland', 1]]);
  const none = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-12-31&region=gent', { token: reporter({ regions: ['meetjesland'] }) });
  assert.deepEqual(none.body.rows, [row(null, null, { annual_family_target: 0 })]);
  assertProblem(await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-12-31', { token: staff() }), 403);
});

test('CSV with Accept: text/csv or format=csv: same rows, a header, a file name', async () => {
  const json = await api(server, 'GET', '/v1/metrics?from=2024-01-01&to=2024-02-29&group_by=region,month', { token: reporter() });
  for (const opts of [{ q: '&format=csv', headers: {} }, { q: '', headers: { accept: 'text/csv' } }]) {
    const res = await api(server, 'GET', `/v1/metrics?from=2024-01-01&to=2024-02-29&group_by=region,month${opts.q}`, { token: reporter(), headers: opts.headers });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="1g1p-metrics-2024-01-01-2024-02-29.csv"');
    const lines = res.text.trimEnd().split('\r\n');
    assert.equal(lines[0], 'region,month,referrals_received,first_contacts_held,first_contacts_within_deadline,within_deadline_rate,median_days_to_first_contact,first_contacts_within_original_deadline,open_overdue,families_started,annual_family_target,families_bridging,median_days_waiting_for_care,families_with_one_coach_rate');
    assert.equal(lines.length, 1 + json.body.rows.length);
    assert.equal(lines.find((l) => l.startsWith('gent,2024-01,')), 'gent,2024-01,4,3,2,0.6666666667,35,1,0,0,200,0,,');
    assert.equal(lines.find((l) => l.startsWith('meetjesland,2024-01,')), 'meetjesland,2024-01,0,0,0,,,0,0,0,200,0,,');
  }
});

test('bad parameters are 400', async () => {
  for (const q of ['', 'from=2024-01-01', 'to=2024-01-01', 'from=2024-02-30&to=2024-03-01', 'from=2024-03-01&to=2024-02-01',
    'from=2014-01-01&to=2024-01-02', 'from=2024-01-01&to=2024-02-01&group_by=week', 'from=2024-01-01&to=2024-02-01&format=xml',
    'from=2024-01-01&to=2024-02-01&region=NOT%20A%20CODE']) {
    assertProblem(await api(server, 'GET', `/v1/metrics?${q}`, { token: reporter() }), 400);
  }
  assert.equal((await api(server, 'GET', '/v1/metrics?from=2014-01-01&to=2024-01-01', { token: reporter() })).status, 200);
});

test('aggregates only: no field of any metrics response comes from a referral or family', async () => {
  const allowed = new Set(['region', 'month', 'referrals_received', 'first_contacts_held', 'first_contacts_within_deadline', 'within_deadline_rate',
    'median_days_to_first_contact', 'first_contacts_within_original_deadline', 'open_overdue', 'families_started', 'annual_family_target',
    'families_bridging', 'median_days_waiting_for_care', 'families_with_one_coach_rate']);
  for (const g of ['', '&group_by=region', '&group_by=month', '&group_by=region,month']) {
    const res = await api(server, 'GET', `/v1/metrics?from=2024-01-01&to=2024-12-31${g}`, { token: reporter() });
    assert.deepEqual(Object.keys(res.body).sort(), ['from', 'rows', 'to']);
    for (const r of res.body.rows) for (const k of Object.keys(r)) assert.ok(allowed.has(k), k);
    assert.doesNotMatch(res.text, /GEHEIM|9000|[0-9a-f]{8}-[0-9a-f]{4}-/);
    const csv = await api(server, 'GET', `/v1/metrics?from=2024-01-01&to=2024-12-31${g}&format=csv`, { token: reporter() });
    assert.doesNotMatch(csv.text, /GEHEIM|9000|[0-9a-f]{8}-[0-9a-f]{4}-/);
  }
});
