// Webhooks under faults, with a real receiver on loopback: the API killed
// with SIGKILL in the middle of deliveries and started again delivers every
// event of every committed change at least once (duplicates are counted and
// reported); two instances delivering from one database deliver each event
// once, and none is lost when one of them is killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, token, psql } from './lib.mjs';
import { WEBHOOK_ENV, receiver, until } from './receiver.mjs';

let db, rec;
before(async () => { db = freshDb('webhooks_faults'); rec = await receiver(); });
after(async () => { await rec?.close(); });

const manager = () => token({ sub: 'partner-system', scope: 'webhooks:manage referrals:read referrals:write', regions: ['*'] });
const push = (server, i) => api(server, 'POST', '/v1/referrals', { body: { region: 'gent', referrer: { kind: 'self' }, external_ref: `F-${i}`, question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } }, unchecked: true });
const dueNow = () => psql(db, "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'");

// Every referral.created event of this run, by webhook-id: how often each came.
function received(prefix, path) {
  const seen = new Map();
  for (const q of rec.requests) {
    if (q.path !== path) continue;
    const body = JSON.parse(q.body);
    if (body.type !== 'referral.created' || !prefix.has(body.data.id)) continue;
    seen.set(q.headers['webhook-id'], (seen.get(q.headers['webhook-id']) || 0) + 1);
  }
  return seen;
}

test('SIGKILL in the middle of deliveries: after a restart every committed event arrives at least once', async () => {
  const env = { ...WEBHOOK_ENV, WEBHOOK_LEASE_SECONDS: '3', WEBHOOK_TIMEOUT_SECONDS: '2' };
  let server = await startServer({ db, env });
  const sub = (await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: `${rec.url}/kill`, events: ['referral.created'] } })).body;
  rec.delayMs = 40; // slow enough that the kill lands mid-delivery
  const ids = new Set();
  const pushes = [];
  for (let i = 0; i < 60; i++) pushes.push(push(server, `kill-${i}`).then((r) => { if (r.status === 201) ids.add(r.body.id); }).catch(() => {}));
  await until(() => rec.requests.length >= 5, 10000, 'deliveries under way');
  server.proc.kill('SIGKILL');
  await server.exited;
  await Promise.all(pushes);
  const committed = new Set(psql(db, `SELECT id FROM referrals WHERE external_ref LIKE 'F-kill-%'`).split('\n').filter(Boolean));
  for (const id of ids) assert.ok(committed.has(id), 'every acknowledged push is committed');
  rec.delayMs = 0;
  server = await startServer({ db, env });
  try {
    dueNow();
    await until(() => received(committed, '/hooks/kill').size === committed.size, 20000, `all ${committed.size} events`);
    const seen = received(committed, '/hooks/kill');
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    console.log(`# SIGKILL: ${committed.size} committed changes, ${seen.size} events delivered, ${duplicates} delivered more than once`);
    assert.equal(seen.size, committed.size);
    // The receiver has them all; the last outcomes are recorded just after.
    await until(() => psql(db, `SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '${sub.id}' AND status <> 'delivered'`) === '0', 10000, 'every delivery recorded');
    await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
  } finally {
    await server.stop();
  }
});

test('two instances deliver each event once; none is lost when one is killed', async () => {
  const env = { ...WEBHOOK_ENV, WEBHOOK_LEASE_SECONDS: '3' };
  const a = await startServer({ db, env });
  const b = await startServer({ db, env });
  const sub = (await api(a, 'POST', '/v1/webhooks', { token: manager(), body: { url: `${rec.url}/two`, events: ['referral.created'] } })).body;
  const before = rec.requests.filter((q) => q.path === '/hooks/two').length;
  const ids = new Set();
  await Promise.all(Array.from({ length: 40 }, (_, i) => push(i % 2 ? a : b, `two-${i}`).then((r) => ids.add(r.body.id))));
  await until(() => received(ids, '/hooks/two').size === ids.size, 15000, 'all 40 events');
  const seen = received(ids, '/hooks/two');
  assert.ok([...seen.values()].every((n) => n === 1), `each event once in normal operation: ${JSON.stringify([...seen.values()])}`);
  assert.equal(rec.requests.filter((q) => q.path === '/hooks/two').length - before, 40);
  // Now kill one instance while events are being delivered slowly.
  rec.delayMs = 30;
  const more = new Set();
  await Promise.all(Array.from({ length: 30 }, (_, i) => push(a, `kill2-${i}`).then((r) => more.add(r.body.id))));
  await until(() => received(more, '/hooks/two').size >= 3, 10000, 'deliveries under way');
  b.proc.kill('SIGKILL');
  await b.exited;
  rec.delayMs = 0;
  try {
    await until(() => received(more, '/hooks/two').size === more.size, 20000, 'every event after the kill');
    const dup = [...received(more, '/hooks/two').values()].filter((n) => n > 1).length;
    console.log(`# two instances: 40 events once each; after killing one, ${more.size} events delivered, ${dup} more than once`);
    await until(() => psql(db, `SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '${sub.id}' AND status <> 'delivered'`) === '0', 10000, 'every delivery recorded');
  } finally {
    await a.stop();
  }
});

test('SIGTERM during a delivery that hangs: the server stops within 10 s and hands the delivery back, uncounted', async () => {
  const env = { ...WEBHOOK_ENV, WEBHOOK_TIMEOUT_SECONDS: '10', WEBHOOK_LEASE_SECONDS: '30' };
  let server = await startServer({ db, env });
  const sub = (await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: `${rec.url}/term`, events: ['referral.created'] } })).body;
  rec.mode = 'hang';
  await push(server, 'term-1');
  const state = () => psql(db, `SELECT status || ' ' || attempts || ' ' || (lease_until IS NOT NULL) FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`);
  await until(() => state() === 'pending 1 true' && rec.requests.some((q) => q.path === '/hooks/term'), 10000, 'a delivery in flight');
  const t0 = Date.now();
  await server.stop();
  const took = Date.now() - t0;
  console.log(`# SIGTERM with a hanging delivery: stopped in ${took} ms`);
  assert.ok(took < 10000, `stopped in ${took} ms`);
  assert.equal(state(), 'pending 0 false', 'handed back, the attempt not counted');
  rec.mode = 'ok';
  server = await startServer({ db, env });
  try {
    await until(() => state() === 'delivered 1 false', 10000, 'delivered after the restart');
  } finally {
    await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
    await server.stop();
  }
});
