// The change feed: every committed change once, in feed order, scoped like
// the resource, with next_after to continue; and a reader following the
// feed while writers commit concurrently never misses or repeats a change.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';

let server, db;
before(async () => { db = freshDb('changes'); server = await startServer({ db, env: { DB_POOL_SIZE: '8' } }); });
after(async () => { await server?.stop(); });

const everyone = () => token({ sub: 'sync', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['*'] });
const body = (region, ref) => ({ region, referrer: { kind: 'self' }, external_ref: ref, received_on: '2025-01-06', question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } });

// next_after is "<system id>.<timeline>.<position>": the position is its last part.
const pos = (cursor) => Number(String(cursor).split('.').pop());

async function follow(tok, after, limit = 500) {
  const res = await api(server, 'GET', `/v1/changes?after=${after}&limit=${limit}`, { token: tok });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

test('changes come once, in order, with version and op; after= continues', async () => {
  const start = (await follow(everyone(), 0)).next_after;
  const org = await api(server, 'POST', '/v1/organisations', { body: { name: 'Feed org', sector: 'caw' } });
  const ref = await api(server, 'POST', '/v1/referrals', { token: everyone(), body: body('gent', 'feed-1') });
  await api(server, 'POST', `/v1/referrals/${ref.body.id}/first-contact`, { token: everyone(), body: { held_on: '2025-01-08', mode: 'home' } });
  await api(server, 'DELETE', `/v1/organisations/${org.body.id}`);
  const page = await follow(everyone(), start);
  assert.deepEqual(page.changes.map((c) => [c.resource, c.id, c.version, c.op]), [
    ['organisation', org.body.id, 1, 'create'],
    ['referral', ref.body.id, 1, 'create'],
    ['referral', ref.body.id, 2, 'update'],
    ['organisation', org.body.id, 1, 'delete'],
  ]);
  const seqs = page.changes.map((c) => c.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.match(page.next_after, /^\d+\.\d+\.\d+$/);
  assert.equal(pos(page.next_after), seqs.at(-1));
  assert.deepEqual((await follow(everyone(), page.next_after)).changes, []);
  const small = await follow(everyone(), start, 2);
  assert.equal(small.changes.length, 2);
  assert.equal(pos(small.next_after), small.changes[1].seq);
  // A bare position, as given out before cursors named their history, still works.
  assert.deepEqual((await follow(everyone(), pos(page.next_after))).changes, []);
});

test('scoped like reads: other regions, other organisations, scopes', async () => {
  const start = (await follow(everyone(), 0)).next_after;
  const gentRef = await api(server, 'POST', '/v1/referrals', { token: everyone(), body: body('gent', 'scope-1') });
  const fam = await api(server, 'POST', '/v1/families', { token: everyone(), body: { region: 'gent', label: 'F' } });
  const meetjes = token({ scope: 'referrals:read plans:read', regions: ['meetjesland'] });
  const seen = (await follow(meetjes, start)).changes;
  assert.ok(!seen.some((c) => c.id === gentRef.body.id || c.id === fam.body.id));
  const referralsOnly = token({ scope: 'referrals:read', regions: ['gent'] });
  const r = (await follow(referralsOnly, start)).changes;
  assert.ok(r.some((c) => c.id === gentRef.body.id));
  assert.ok(!r.some((c) => c.resource === 'family'), 'family changes need plans:read');
  const partner = token({ scope: 'referrals:read plans:read', regions: ['gent'], org: '00000000-0000-4000-8000-0000000000bb' });
  assert.ok(!(await follow(partner, start)).changes.some((c) => c.resource === 'referral' || c.resource === 'family'));
  // a reader that may see nothing still advances
  assert.ok(pos((await follow(meetjes, start)).next_after) > pos(start));
  assertProblem(await api(server, 'GET', '/v1/changes', { token: token({ scope: 'plan:family', family: fam.body.id }) }), 403);
  assertProblem(await api(server, 'GET', '/v1/changes?after=-1', { token: everyone() }), 400);
  assertProblem(await api(server, 'GET', '/v1/changes?after=x', { token: everyone() }), 400);
  assertProblem(await api(server, 'GET', '/v1/changes?after=99999999999999999999', { token: everyone() }), 400);
});

test('a reader following the feed during concurrent writes sees every change exactly once, never going back', async () => {
  const start = (await follow(everyone(), 0)).next_after;
  let done = false;
  const seen = [];
  let after = start;
  const reader = (async () => {
    while (true) {
      const finished = done;
      const page = await follow(everyone(), after, 7);
      for (const c of page.changes) seen.push(c);
      assert.ok(pos(page.next_after) >= pos(after), 'next_after never goes back');
      after = page.next_after;
      if (finished && page.changes.length === 0) break;
    }
  })();
  const writers = Array.from({ length: 6 }, (_, w) => (async () => {
    for (let i = 0; i < 12; i++) {
      const res = await api(server, 'POST', '/v1/referrals', { token: everyone(), body: body(i % 2 ? 'gent' : 'meetjesland', `w${w}-${i}`) });
      assert.equal(res.status, 201);
      if (i % 3 === 0) await api(server, 'PATCH', `/v1/referrals/${res.body.id}`, { token: everyone(), body: { status: 'withdrawn' } });
    }
  })());
  await Promise.all(writers);
  done = true;
  await reader;
  const seqs = seen.map((c) => c.seq);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]}`);
  const keys = seen.map((c) => `${c.resource}/${c.id}/${c.version}/${c.op}`);
  assert.equal(new Set(keys).size, keys.length, 'no change twice');
  const expected = psql(db, `SELECT count(*) FROM changes WHERE seq > ${pos(start)}`);
  assert.equal(seen.length, Number(expected));
  assert.equal(seen.filter((c) => c.op === 'create' && c.resource === 'referral').length, 72);
  assert.equal(seen.filter((c) => c.op === 'update' && c.resource === 'referral').length, 24);
});

test('cursors name their history: another system, a later timeline or a lost future is 410; malformed is 400', async () => {
  const cur = (await follow(everyone(), 0)).next_after;
  const [sid, tl, at] = cur.split('.');
  for (const other of [`1.${tl}.${at}`, `${sid}.${Number(tl) + 1}.${at}`]) {
    const res = await api(server, 'GET', `/v1/changes?after=${other}`, { token: everyone() });
    assertProblem(res, 410);
  }
  // (a cursor of an earlier timeline, good up to its branch point: pitr.test.mjs)
  assert.equal((await api(server, 'GET', `/v1/changes?after=${cur}`, { token: everyone() })).status, 200);
  for (const bad of ['x', '1.2', '1.2.3.4', `${sid}.0.1`, '-1', `${sid}.${tl}.abc`]) assertProblem(await api(server, 'GET', `/v1/changes?after=${bad}`, { token: everyone() }), 400);
});
