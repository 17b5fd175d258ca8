// Webhooks against real receivers on loopback: subscriptions, thin signed
// events verified by the reference verifier (npm standardwebhooks), secret
// rotation, retries through a receiver that fails, refuses and hangs, 410
// and five days of failure disabling, Retry-After, scoping by organisation
// and region, ping and manual retry, server-side request forgery rules.
// The clock is driven through the database (next_attempt_at, the failure
// streak), never by waiting. Crashes and two instances: webhooks_faults.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { startServer, freshDb, api, assertProblem, token, psql } from './lib.mjs';
import { WEBHOOK_ENV, receiver, until } from './receiver.mjs';

let server, db, rec, orgA, orgB;
const manager = (claims = {}) => token({ sub: 'partner-system', scope: 'webhooks:manage referrals:read referrals:write plans:read', regions: ['*'], ...claims });
const referral = (extra = {}) => ({ region: 'gent', referrer: { kind: 'self' }, question: 'Geheime vraag', question_kind: 'consult', family: { label: 'Gezin Geheim', postcode: '9000' }, ...extra });
// Retries are due now: the clock, driven through the database.
const dueNow = () => psql(db, "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'; NOTIFY g1p_webhooks");

before(async () => {
  db = freshDb('webhooks');
  rec = await receiver();
  server = await startServer({ db, env: WEBHOOK_ENV });
  orgA = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW A', sector: 'caw', regions: ['gent'] } })).body.id;
  orgB = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CLB B', sector: 'clb', regions: ['gent'] } })).body.id;
});
after(async () => { await server?.stop(); await rec?.close(); });

async function subscribe(body, tok = manager()) {
  const res = await api(server, 'POST', '/v1/webhooks', { token: tok, body });
  assert.equal(res.status, 201, res.text);
  return res.body;
}
const requestsOf = (type) => rec.requests.filter((q) => JSON.parse(q.body).type === type);

test('a subscription is created with its secret shown once, read, listed, changed with If-Match and deleted', async () => {
  const created = await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: rec.url, events: ['referral.created'], description: 'Partner A' } });
  assert.equal(created.status, 201);
  assert.match(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(created.headers.get('location'), `/v1/webhooks/${created.body.id}`);
  assert.deepEqual(created.body.events, ['referral.created']);
  assert.equal(created.body.enabled, true);
  const read = await api(server, 'GET', `/v1/webhooks/${created.body.id}`, { token: manager() });
  assert.equal(read.status, 200);
  assert.equal(read.body.secret, undefined);
  assert.equal(psql(db, `SELECT count(*) FROM webhooks WHERE secret = '${created.body.secret}'`), '1');
  const list = await api(server, 'GET', '/v1/webhooks', { token: manager() });
  assert.ok(list.body.items.some((w) => w.id === created.body.id));
  assertProblem(await api(server, 'PATCH', `/v1/webhooks/${created.body.id}`, { token: manager(), headers: { 'if-match': '"9"' }, body: { description: 'x' } }), 412);
  const patched = await api(server, 'PATCH', `/v1/webhooks/${created.body.id}`, { token: manager(), headers: { 'if-match': '"1"' }, body: { enabled: false, events: ['*'] } });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.enabled, false);
  assert.equal(patched.body.disabled_reason, 'manual');
  assert.equal((await api(server, 'DELETE', `/v1/webhooks/${created.body.id}`, { token: manager() })).status, 204);
  assertProblem(await api(server, 'GET', `/v1/webhooks/${created.body.id}`, { token: manager() }), 404);
  assert.equal(psql(db, "SELECT count(*) FROM audit_log WHERE resource = 'webhook'"), '3');
});

test('bad subscriptions: validation (422), scope (403), another organisation or region (404)', async () => {
  assertProblem(await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: 'ftp://x', events: ['nope.event', 'referral.created', 'referral.created'], extra: 1 } }), 422, ['/url', '/events', '/extra']);
  assertProblem(await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: rec.url, events: ['*', 'referral.created'] } }), 422, ['/events']);
  assertProblem(await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: rec.url, events: [] } }), 422, ['/events']);
  assertProblem(await api(server, 'POST', '/v1/webhooks', { token: manager(), body: { url: rec.url, events: ['*'], description: 'x'.repeat(501) } }), 422, ['/description']);
  assertProblem(await api(server, 'POST', '/v1/webhooks', { token: token({ scope: 'referrals:read' }), body: { url: rec.url, events: ['*'] } }), 403);
  const mine = await subscribe({ url: rec.url, events: ['*'] }, manager({ org: orgA, regions: ['gent'] }));
  assertProblem(await api(server, 'GET', `/v1/webhooks/${mine.id}`, { token: manager({ org: orgB, regions: ['gent'] }) }), 404);
  assertProblem(await api(server, 'GET', `/v1/webhooks/${mine.id}`, { token: manager({ org: orgA, regions: ['meetjesland'] }) }), 404);
  assertProblem(await api(server, 'DELETE', `/v1/webhooks/${mine.id}`, { token: manager({ org: orgB, regions: ['gent'] }) }), 404);
  assertProblem(await api(server, 'GET', '/v1/webhooks/not-an-id', { token: manager() }), 404);
  assert.equal((await api(server, 'DELETE', `/v1/webhooks/${mine.id}`, { token: manager({ org: orgA, regions: ['gent'] }) })).status, 204);
});

test('events are thin, signed (verified by standardwebhooks) and carry no personal data; tampering fails verification', async () => {
  const sub = await subscribe({ url: rec.url, events: ['referral.created', 'referral.first_contact'] });
  const before = rec.requests.length;
  const r = await api(server, 'POST', '/v1/referrals', { body: referral({ external_ref: 'WH-1' }) });
  await api(server, 'POST', `/v1/referrals/${r.body.id}/first-contact`, { body: { held_on: new Date().toISOString().slice(0, 10), mode: 'phone' } });
  const t0 = Date.now();
  await until(() => rec.requests.length >= before + 2, 10000, 'two deliveries');
  console.log(`# two events delivered ${Date.now() - t0} ms after the change`);
  const wh = new Webhook(sub.secret);
  const got = rec.requests.slice(before).map((q) => ({ q, payload: wh.verify(q.body, q.headers) }));
  const types = got.map((g) => g.payload.type).sort();
  assert.deepEqual(types, ['referral.created', 'referral.first_contact']);
  for (const { q, payload } of got) {
    assert.deepEqual(Object.keys(payload).sort(), ['data', 'timestamp', 'type']);
    assert.deepEqual(Object.keys(payload.data).sort(), ['id', 'resource', 'seq', 'version']);
    assert.equal(payload.data.id, r.body.id);
    assert.equal(payload.data.resource, 'referral');
    assert.ok(Number.isInteger(payload.data.seq) && payload.data.seq > 0);
    assert.doesNotMatch(q.body, /Geheim|9000/);
    assert.match(q.headers['webhook-id'], /^msg_[0-9a-f]{32}$/);
    assert.equal(q.headers['content-type'], 'application/json');
    // A tampered body or a stale timestamp fails the reference verifier.
    assert.throws(() => wh.verify(q.body.replace('referral', 'referrax'), q.headers));
    assert.throws(() => wh.verify(q.body, { ...q.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) }));
    assert.throws(() => new Webhook('whsec_' + Buffer.alloc(32, 7).toString('base64')).verify(q.body, q.headers));
  }
  // A write that fails makes no event.
  const count = psql(db, 'SELECT count(*) FROM webhook_deliveries');
  assertProblem(await api(server, 'POST', '/v1/referrals', { body: referral({ region: 'nowhere' }) }), 422);
  assert.equal(psql(db, 'SELECT count(*) FROM webhook_deliveries'), count);
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
});

test('secret rotation: both secrets sign for 24 hours, each verifies alone', async () => {
  const sub = await subscribe({ url: rec.url, events: ['referral.created'] });
  const rotated = await api(server, 'POST', `/v1/webhooks/${sub.id}/secret`, { token: manager() });
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.body.secret, sub.secret);
  assert.ok(Date.parse(rotated.body.previous_secret_expires_at) > Date.now() + 23 * 3600e3);
  const before = rec.requests.length;
  await api(server, 'POST', '/v1/referrals', { body: referral() });
  await until(() => rec.requests.length > before);
  const q = rec.requests[rec.requests.length - 1];
  assert.equal(q.headers['webhook-signature'].split(' ').length, 2);
  assert.equal(new Webhook(sub.secret).verify(q.body, q.headers).type, 'referral.created');
  assert.equal(new Webhook(rotated.body.secret).verify(q.body, q.headers).type, 'referral.created');
  // After the overlap only the new secret signs.
  psql(db, `UPDATE webhooks SET previous_secret_until = now() - interval '1 second' WHERE id = '${sub.id}'`);
  await api(server, 'POST', '/v1/referrals', { body: referral() });
  await until(() => rec.requests.length > before + 1);
  const last = rec.requests[rec.requests.length - 1];
  assert.equal(last.headers['webhook-signature'].split(' ').length, 1);
  assert.throws(() => new Webhook(sub.secret).verify(last.body, last.headers));
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
});

test('a receiver that fails, refuses connections and hangs past the timeout gets every event once it is back, with the same webhook-id', async () => {
  const sub = await subscribe({ url: rec.url, events: ['referral.created'] });
  rec.mode = '500';
  const r = await api(server, 'POST', '/v1/referrals', { body: referral() });
  const first = await until(() => rec.requests.find((q) => JSON.parse(q.body).data.id === r.body.id), 10000, 'first attempt');
  // An attempt is counted when claimed; it is over when the lease is released.
  const row = () => psql(db, `SELECT d.status || ' ' || d.attempts || ' ' || coalesce(d.last_status_code::text, '-') || CASE WHEN d.lease_until IS NULL THEN '' ELSE ' (in flight)' END FROM webhook_deliveries d WHERE d.webhook_id = '${sub.id}'`);
  await until(() => row() === 'pending 1 500', 5000, 'attempt 1 recorded');
  const deliveries = await api(server, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=pending`, { token: manager() });
  assert.equal(deliveries.body.items.length, 1);
  assert.equal(deliveries.body.items[0].last_status_code, 500);
  assert.equal(deliveries.body.items[0].last_error, 'HTTP 500');
  assert.ok(Date.parse(deliveries.body.items[0].next_attempt_at) > Date.now(), 'the next attempt waits (5 s)');
  // The receiver is down: connections are refused.
  await rec.close();
  dueNow();
  await until(() => /^pending 2 -$/.test(row()), 8000, 'attempt 2 recorded (refused)');
  assert.match(psql(db, `SELECT last_error FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`), /connect|refused/i);
  // Back, but hanging past the 2 s timeout.
  await rec.reopen();
  rec.mode = 'hang';
  const t0 = Date.now();
  dueNow();
  await until(() => /^pending 3 -$/.test(row()), 8000, 'attempt 3 recorded (timeout)');
  assert.ok(Date.now() - t0 < 6000, 'a hanging receiver holds a worker no longer than the timeout');
  assert.match(psql(db, `SELECT last_error FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`), /timeout|timed out/i);
  rec.mode = 'ok';
  dueNow();
  await until(() => /^delivered 4 204$/.test(row()), 8000, 'delivered');
  // Four attempts; the refused one never reached the receiver.
  const attempts = rec.requests.filter((q) => JSON.parse(q.body).data.id === r.body.id);
  assert.deepEqual(attempts.map((q) => q.mode), ['500', 'hang', 'ok']);
  assert.ok(attempts.every((q) => q.headers['webhook-id'] === first.headers['webhook-id']));
  assert.ok(attempts.every((q) => q.body === first.body), 'the same bytes every time');
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
});

test('Retry-After is honoured, 410 disables at once, five days of failures disable', async () => {
  const sub = await subscribe({ url: rec.url, events: ['referral.created'] });
  rec.mode = '429';
  await api(server, 'POST', '/v1/referrals', { body: referral() });
  await until(() => psql(db, `SELECT attempts FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`) === '1' &&
    psql(db, `SELECT last_status_code FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`) === '429');
  const wait = Number(psql(db, `SELECT extract(epoch FROM next_attempt_at - last_attempt_at)::int FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`));
  assert.ok(wait >= 118 && wait <= 122, `Retry-After 120 honoured (${wait} s)`);
  rec.mode = '410';
  dueNow();
  await until(() => psql(db, `SELECT enabled FROM webhooks WHERE id = '${sub.id}'`) === 'f');
  const gone = await api(server, 'GET', `/v1/webhooks/${sub.id}`, { token: manager() });
  assert.equal(gone.body.disabled_reason, 'gone');
  assert.equal(psql(db, `SELECT status FROM webhook_deliveries WHERE webhook_id = '${sub.id}'`), 'failed');
  // Five days: re-enable, fail once with the streak started five days ago.
  await api(server, 'PATCH', `/v1/webhooks/${sub.id}`, { token: manager(), body: { enabled: true } });
  rec.mode = '500';
  await api(server, 'POST', '/v1/referrals', { body: referral() });
  await until(() => psql(db, `SELECT count(*) FROM webhook_failing WHERE webhook_id = '${sub.id}'`) === '1');
  psql(db, `UPDATE webhook_failing SET since = now() - interval '5 days 1 minute' WHERE webhook_id = '${sub.id}'`);
  dueNow();
  await until(() => psql(db, `SELECT enabled::text || ' ' || coalesce(disabled_reason, '') FROM webhooks WHERE id = '${sub.id}'`) === 'false failing');
  rec.mode = 'ok';
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
});

test('scoping: an organisation\'s subscription never hears of another organisation\'s referral, a region\'s never of another region', async () => {
  const a = await subscribe({ url: rec.url, events: ['*'] }, manager({ org: orgA, regions: ['gent'] }));
  const gent = await subscribe({ url: rec.url, events: ['referral.created'] }, manager({ regions: ['gent'] }));
  const pushA = await api(server, 'POST', '/v1/referrals', { token: token({ org: orgA, regions: ['gent'], scope: 'referrals:write' }), body: referral() });
  const pushB = await api(server, 'POST', '/v1/referrals', { token: token({ org: orgB, regions: ['gent'], scope: 'referrals:write' }), body: referral() });
  const elsewhere = await api(server, 'POST', '/v1/referrals', { body: referral({ region: 'meetjesland' }) });
  const heard = (sub) => psql(db, `SELECT string_agg(e.resource_id, ',' ORDER BY e.resource_id) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.webhook_id = '${sub.id}' AND e.resource = 'referral'`).split(',').filter(Boolean);
  assert.deepEqual(heard(a), [pushA.body.id]);
  assert.deepEqual(heard(gent).sort(), [pushA.body.id, pushB.body.id].sort());
  assert.ok(!heard(gent).includes(elsewhere.body.id));
  await api(server, 'DELETE', `/v1/webhooks/${a.id}`, { token: manager({ org: orgA, regions: ['gent'] }) });
  await api(server, 'DELETE', `/v1/webhooks/${gent.id}`, { token: manager({ regions: ['gent'] }) });
});

test('ping and manual retry', async () => {
  const sub = await subscribe({ url: rec.url, events: ['webhook.ping'] });
  const before = rec.requests.length;
  const ping = await api(server, 'POST', `/v1/webhooks/${sub.id}/ping`, { token: manager() });
  assert.equal(ping.status, 202);
  assert.equal(ping.body.type, 'webhook.ping');
  await until(() => rec.requests.length > before);
  const payload = new Webhook(sub.secret).verify(rec.requests[rec.requests.length - 1].body, rec.requests[rec.requests.length - 1].headers);
  assert.equal(payload.type, 'webhook.ping');
  await until(() => psql(db, `SELECT status FROM webhook_deliveries WHERE id = '${ping.body.id}'`) === 'delivered');
  const retry = await api(server, 'POST', `/v1/webhooks/${sub.id}/deliveries/${ping.body.id}/retry`, { token: manager() });
  assert.equal(retry.status, 202);
  await until(() => rec.requests.length > before + 1);
  assert.equal(rec.requests[rec.requests.length - 1].headers['webhook-id'], rec.requests[before].headers['webhook-id']);
  assertProblem(await api(server, 'POST', `/v1/webhooks/${sub.id}/deliveries/00000000-0000-4000-8000-000000000000/retry`, { token: manager() }), 404);
  assertProblem(await api(server, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=lost`, { token: manager() }), 400);
  await api(server, 'DELETE', `/v1/webhooks/${sub.id}`, { token: manager() });
});

test('no server-side request forgery: private, local and disguised addresses are refused (422) without the test flags', async () => {
  const strictDb = freshDb('webhooks_ssrf');
  const strict = await startServer({ db: strictDb, env: { WEBHOOK_WORKERS: '0' } });
  try {
    const urls = ['https://127.0.0.1/', 'https://localhost/', 'https://[::1]/', 'https://10.0.0.1/', 'https://172.16.0.1/', 'https://192.168.1.1/',
      'https://169.254.169.254/latest/meta-data/', 'https://100.64.0.1/', 'https://0.0.0.0/', 'https://[::ffff:127.0.0.1]/', 'https://2130706433/',
      'https://0177.0.0.1/', 'https://0x7f000001/', 'http://example.com/hook', 'https://user@example.com/', 'https://user:pw@example.com/',
      'https://[fd00::1]/', 'https://[fe80::1]/', 'https://224.0.0.1/', 'https://nonexistent.invalid/'];
    for (const url of urls) {
      const res = await api(strict, 'POST', '/v1/webhooks', { token: manager(), body: { url, events: ['*'] } });
      assertProblem(res, 422, ['/url']);
    }
    assert.equal(psql(strictDb, 'SELECT count(*) FROM webhooks'), '0');
  } finally {
    await strict.stop();
  }
});

test('the address actually connected to is checked again at delivery (DNS that changed to a private address)', async () => {
  const name = 'hooks.example.test';
  const own = freshDb('webhooks_rebind');
  const strict = await startServer({ db: own, env: { WEBHOOK_ALLOW_HTTP: '1', WEBHOOK_TEST_RESOLVE: `${name}:${rec.port}:127.0.0.1` } });
  try {
    // Written when the name pointed to a public address (the API would refuse it now).
    const id = psql(own, `INSERT INTO webhooks (url, events, created_by, reads_referrals, reads_families, secret) VALUES ('http://${name}:${rec.port}/hooks', '{referral.created}', 't', true, true, 'whsec_${Buffer.alloc(32, 1).toString('base64')}') RETURNING id`).split('\n')[0];
    const before = rec.requests.length;
    await api(strict, 'POST', '/v1/referrals', { body: referral() });
    await until(() => psql(own, `SELECT coalesce(last_error, '') FROM webhook_deliveries WHERE webhook_id = '${id}'`) !== '', 10000, 'an attempt');
    assert.match(psql(own, `SELECT last_error FROM webhook_deliveries WHERE webhook_id = '${id}'`), /private or local/);
    assert.equal(rec.requests.length, before, 'nothing reached the loopback receiver');
  } finally {
    await strict.stop();
  }
});
