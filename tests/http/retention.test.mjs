// The retention command: what is due (families closed more than
// RETENTION_CLOSED_YEARS ago, lone referrals ended more than
// RETENTION_UNFOLLOWED_YEARS ago), a dry run that changes nothing, two runs
// at the same moment that erase and audit each resource once, a second run
// that finds nothing, metrics unchanged, bad arguments and configuration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startServer, freshDb, api, psql, BIN, token } from './lib.mjs';

let server, db;
const ids = {};
before(async () => {
  db = freshDb('retention');
  server = await startServer({ db });
  const referral = async (received = '2025-02-03') => (await api(server, 'POST', '/v1/referrals', { body: { region: 'gent', referrer: { kind: 'self' }, received_on: received, question: 'Vraag RET', question_kind: 'consult', family: { label: 'Gezin RET', postcode: '9000' } } })).body.id;
  const contact = (id) => api(server, 'POST', `/v1/referrals/${id}/first-contact`, { body: { held_on: '2025-02-20', mode: 'home' } });
  const close = (id, on) => api(server, 'PATCH', `/v1/referrals/${id}`, { body: { status: 'closed', outcome: 'back_on_track', closed_on: on } });
  async function family(closings) {
    const refs = [];
    for (const _ of closings) { const r = await referral(); await contact(r); refs.push(r); }
    const f = (await api(server, 'POST', '/v1/families', { body: { referral_id: refs[0] } })).body.id;
    for (const r of refs.slice(1)) await api(server, 'POST', `/v1/families/${f}/referrals`, { body: { referral_id: r } });
    for (const [i, on] of closings.entries()) if (on) assert.equal((await close(refs[i], on)).status, 200);
    return f;
  }
  ids.famDue = await family(['2025-03-01', '2025-04-01']);   // latest closing 2025-04-01
  ids.famOpen = await family(['2025-04-01', null]);           // one referral still open: never due
  ids.famLater = await family(['2025-05-01']);                 // closed later than the cut-off
  ids.standalone = (await api(server, 'POST', '/v1/families', { body: { region: 'gent', label: 'Los' } })).body.id;
  ids.loneDue = await referral('2025-01-10');
  await api(server, 'PATCH', `/v1/referrals/${ids.loneDue}`, { body: { status: 'withdrawn', closed_on: '2025-02-01' } });
  ids.loneOpen = await referral('2025-01-10');
  ids.loneLater = await referral('2025-01-10');
  await contact(ids.loneLater);
  await api(server, 'PATCH', `/v1/referrals/${ids.loneLater}`, { body: { status: 'closed', outcome: 'consult_only', closed_on: '2025-06-01' } });
});
after(async () => { await server?.stop(); });

function retention(args, env = {}) {
  return spawnSync(BIN, ['retention', ...args], { env: { PATH: process.env.PATH, DATABASE_URL: db, ...env }, encoding: 'utf8', timeout: 60000 });
}
const erased = (table, id) => psql(db, `SELECT erased_on IS NOT NULL FROM ${table} WHERE id = '${id}'`) === 't';
const metrics = async () => (await api(server, 'GET', '/v1/metrics?from=2025-01-01&to=2025-12-31&group_by=region,month', { token: token({ scope: 'metrics:read' }) })).text;

test('a dry run counts what is due and changes nothing', () => {
  const r = retention(['--dry-run', '--as-of', '2035-04-15']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /retention as of 2035-04-15 .*dry run/);
  // famDue closed 2025-04-01 (< 2025-04-15); both lone referrals ended before 2033-04-15.
  assert.match(r.stdout, /due: 1 families, 2 referrals without a family/);
  assert.doesNotMatch(r.stdout, /erased:/);
  const early = retention(['--dry-run', '--as-of', '2027-04-15']);
  assert.match(early.stdout, /due: 0 families, 1 referrals without a family/); // loneLater ended 2025-06-01
  assert.ok(!erased('families', ids.famDue) && !erased('referrals', ids.loneDue));
});

test('two runs at the same moment erase each due resource once and audit it once; metrics stay; a second run finds nothing', async () => {
  const before = await metrics();
  const runOnce = () => new Promise((resolve) => {
    const p = spawn(BIN, ['retention', '--as-of', '2035-04-15'], { env: { PATH: process.env.PATH, DATABASE_URL: db } });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
  const [a, b] = await Promise.all([runOnce(), runOnce()]);
  assert.equal(a.code, 0, a.out);
  assert.equal(b.code, 0, b.out);
  const counts = [a.out, b.out].map((o) => o.match(/erased: (\d+) families, (\d+) referrals/).slice(1).map(Number));
  assert.deepEqual([counts[0][0] + counts[1][0], counts[0][1] + counts[1][1]], [1, 2], `${a.out}\n${b.out}`);
  assert.ok(erased('families', ids.famDue));
  for (const f of [ids.famOpen, ids.famLater, ids.standalone]) assert.ok(!erased('families', f));
  assert.ok(erased('referrals', ids.loneDue) && erased('referrals', ids.loneLater));
  assert.ok(!erased('referrals', ids.loneOpen));
  // The family's referrals went with it; each resource audited once.
  assert.equal(psql(db, `SELECT count(*) FROM referrals WHERE family_id = '${ids.famDue}' AND erased_on IS NULL`), '0');
  assert.equal(psql(db, "SELECT count(*) FROM audit_log WHERE action = 'erase' AND sub = 'retention'"), '3');
  assert.equal(psql(db, `SELECT reason FROM erasures WHERE resource = 'family' AND resource_id = '${ids.famDue}'`), 'retention');
  assert.equal(await metrics(), before);
  const again = retention(['--as-of', '2035-04-15']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /erased: 0 families, 0 referrals/);
  // Later, the family closed in May is due too.
  const later = retention(['--as-of', '2035-05-02']);
  assert.match(later.stdout, /erased: 1 families, 0 referrals/);
  assert.ok(erased('families', ids.famLater));
});

test('bad arguments and configuration stop with exit code 2', () => {
  for (const args of [['--as-of'], ['--as-of', '2035-02-30'], ['--now'], ['extra']]) {
    const r = retention(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /usage: g1p-api/);
  }
  for (const [name, value] of [['RETENTION_CLOSED_YEARS', '0'], ['RETENTION_UNFOLLOWED_YEARS', 'two']]) {
    const r = retention(['--dry-run'], { [name]: value });
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${name} must be a whole number`));
  }
  // Shorter periods are configuration, not code.
  const r = retention(['--dry-run', '--as-of', '2026-04-15'], { RETENTION_CLOSED_YEARS: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /more than 1 years/);
});
