// What reaches the handlers is exactly what was sent: raw query strings and
// header values are decoded and checked by the API itself, so no byte is
// silently dropped or cut short (a dropped Idempotency-Key made a duplicate
// referral; a dropped filter returned everything). Raw sockets send the
// bytes a client library would clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, rawRequest, assertProblem, token, psql } from './lib.mjs';

let server, db, org, fam;
before(async () => {
  db = freshDb('wire');
  server = await startServer({ db });
  org = (await api(server, 'POST', '/v1/organisations', { body: { name: 'CAW Gent', sector: 'caw', regions: ['gent'] } })).body.id;
  fam = (await api(server, 'POST', '/v1/families', { body: { region: 'gent', label: 'Gezin W.', coach: { sub: 'coach-w', name: 'Wim', organisation_id: org } } })).body;
});
after(async () => { await server?.stop(); });

const referral = (extra = {}) => ({ region: 'gent', referrer: { kind: 'self' }, question: 'Vraag', question_kind: 'consult', family: { label: 'Gezin R.', postcode: '9000' }, ...extra });
const count = (sql) => Number(psql(db, sql));

function assertBadParameter(res, name) {
  assertProblem(res, 400);
  assert.equal(res.body.parameter, name, res.text);
  assert.ok(res.headers.get('x-request-id'));
}

test('1. an Idempotency-Key with a raw Latin-1 byte is 400 every time, never a second referral', async () => {
  const before = count('SELECT count(*) FROM referrals');
  for (let i = 0; i < 2; i++) {
    const res = await rawRequest(server, 'POST', '/v1/referrals', { body: referral(), headers: [['Idempotency-Key', Buffer.from([0x6b, 0x65, 0x79, 0x2d, 0xe9, 0x2d, 0x31])]] });
    assertProblem(res, 400);
    assert.equal(res.body.header, 'Idempotency-Key');
  }
  const utf8 = await rawRequest(server, 'POST', '/v1/referrals', { body: referral(), headers: [['Idempotency-Key', Buffer.from('key-\u00e9-1', 'utf8')]] });
  assertProblem(utf8, 400);
  // Sent twice, the header arrives joined by a comma: refused, not a new key.
  const twice = await rawRequest(server, 'POST', '/v1/referrals', { body: referral(), headers: [['Idempotency-Key', 'k-twice'], ['Idempotency-Key', 'k-twice']] });
  assertProblem(twice, 400);
  assert.equal(count('SELECT count(*) FROM referrals'), before, 'nothing stored');
  // A good key still works: 201, then 200 with the same referral.
  const first = await rawRequest(server, 'POST', '/v1/referrals', { body: referral(), headers: [['Idempotency-Key', 'key-ok-1']] });
  assert.equal(first.status, 201, first.text);
  const again = await rawRequest(server, 'POST', '/v1/referrals', { body: referral(), headers: [['Idempotency-Key', 'key-ok-1']] });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.id, first.body.id);
  assert.equal(count('SELECT count(*) FROM referrals'), before + 1);
});

test('1b. other headers the API reads refuse bytes outside visible ASCII, naming the header', async () => {
  for (const name of ['If-Match', 'If-None-Match', 'Accept', 'Content-Type']) {
    const res = await rawRequest(server, 'GET', '/v1/regions/gent', { headers: [[name, Buffer.from([0x22, 0x31, 0xff, 0x22])]] });
    assertProblem(res, 400);
    assert.equal(res.body.header, name);
  }
  const auth = await rawRequest(server, 'GET', '/v1/regions', { token: null, headers: [['Authorization', Buffer.from('Bearer \xe9', 'latin1')]] });
  assertProblem(auth, 400);
  assert.equal(auth.body.header, 'Authorization');
  // X-Request-Id is replaced, as documented, not refused.
  const rid = await rawRequest(server, 'GET', '/v1/regions/gent', { headers: [['X-Request-Id', Buffer.from('id-\xe9', 'latin1')]] });
  assert.equal(rid.status, 200);
  assert.match(rid.headers.get('x-request-id'), /^[0-9a-f]{24}$/);
});

test('2. a query value that is not UTF-8 is 400 naming it, never an ignored filter', async () => {
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=%ff%fe'), 'external_ref');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=\xff\xfe'), 'external_ref');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?cursor=%ff'), 'cursor');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/audit?sub=%ff%fe'), 'sub');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=%C0%AF'), 'external_ref'); // overlong
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=%ED%A0%80'), 'external_ref'); // surrogate
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=%E'), 'external_ref'); // odd escape
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?external_ref=%zz'), 'external_ref');
  const name = await rawRequest(server, 'GET', '/v1/referrals?%ff=1');
  assertProblem(name, 400);
  assert.equal(name.body.parameter, '%ff'); // as sent, since it does not decode
  // A real UTF-8 value is a filter like any other.
  const ok = await api(server, 'GET', `/v1/referrals?external_ref=${encodeURIComponent('Gezin-é')}`);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.items, []);
});

test('3. an encoded NUL never cuts a value short', async () => {
  await api(server, 'POST', '/v1/referrals', { body: referral({ external_ref: 'A-1' }) });
  assert.equal((await api(server, 'GET', '/v1/referrals?external_ref=A-1')).body.items.length, 1);
  for (const [target, name] of [
    ['/v1/referrals?external_ref=A-1%00zzz', 'external_ref'], ['/v1/referrals?limit=1%00', 'limit'],
    ['/v1/referrals?region=gent%00', 'region'], ['/v1/deadlines?region=gent%00', 'region'],
    ['/v1/metrics?from=2025-01-01&to=2025-12-31&format=json%00', 'format'], ['/v1/audit?resource=region%00', 'resource'],
  ]) assertBadParameter(await rawRequest(server, 'GET', target), name);
});

test('4. numbers in queries are digits only: no leading or trailing space, no sign', async () => {
  for (const q of ['%205', '5%20', '+5', '%2B5', '-1', '05x', '']) assertProblem(await rawRequest(server, 'GET', `/v1/referrals?limit=${q}`), 400);
  assertProblem(await rawRequest(server, 'GET', '/v1/changes?after=%201'), 400);
  assert.equal((await rawRequest(server, 'GET', '/v1/referrals?limit=5')).status, 200);
  assertProblem(await rawRequest(server, 'GET', `/v1/families/${fam.id}/plan/versions/+1`), 404);
});

test('repeated and unknown query parameters are 400 naming them', async () => {
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?limit=5&limit=6'), 'limit');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?region=gent&region=meetjesland'), 'region');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/referrals?extrenal_ref=A-1'), 'extrenal_ref');
  assertBadParameter(await rawRequest(server, 'GET', '/v1/regions/gent?limit=5'), 'limit');
  assertBadParameter(await rawRequest(server, 'GET', '/health?x=1', { token: null }), 'x');
  const many = Array.from({ length: 33 }, (_, i) => `p${i}=1`).join('&');
  assertProblem(await rawRequest(server, 'GET', `/v1/referrals?${many}`), 400);
  // '+' is a space, as in HTML forms; an empty pair is nothing.
  assert.equal((await rawRequest(server, 'GET', '/v1/referrals?limit=5&&region=gent')).status, 200);
});

test('5. C1 controls and disguising format characters are refused in every text field (422), nothing stored', async () => {
  for (const bad of ['a\u0085b', 'a\u009fb', 'abc\u202ecba', 'a\u2066b', 'a\u200bb', '\ufeffa', 'a\ufdd0']) {
    const o = await api(server, 'POST', '/v1/organisations', { body: { name: bad, sector: 'caw', regions: ['gent'] } });
    assertProblem(o, 422, ['/name']);
    const f = await api(server, 'PATCH', `/v1/families/${fam.id}`, { body: { label: bad, waiting_for: [{ module: bad, since: '2025-03-01' }] } });
    assertProblem(f, 422, ['/label', '/waiting_for/0/module']);
    const p = await api(server, 'PUT', `/v1/families/${fam.id}/plan`, {
      headers: { 'if-none-match': '*' },
      body: { family_question: 'Vraag', actions: [{ id: 'a1', description: bad, owner: { kind: 'family', name: 'Mama' }, status: 'planned' }] },
    });
    assertProblem(p, 422, ['/actions/0/description']);
    const r = await api(server, 'POST', '/v1/referrals', { body: referral({ question: `Vraag ${bad}` }) });
    assertProblem(r, 422, ['/question']);
  }
  assert.equal(count(`SELECT count(*) FROM organisations WHERE name <> 'CAW Gent'`), 0);
  assert.equal(count(`SELECT count(*) FROM plan_versions WHERE family_id = '${fam.id}'`), 0);
  assert.equal(psql(db, `SELECT label FROM families WHERE id = '${fam.id}'`), 'Gezin W.');
  // What real text needs stays allowed: accents, a ZWJ emoji, a soft hyphen, RLM; line breaks in multi-line text.
  const good = await api(server, 'POST', '/v1/organisations', { body: { name: 'Gezinsbond Ö \u{1F468}\u200d\u{1F469} a\u00adb \u200f', sector: 'other', regions: ['gent'] } });
  assert.equal(good.status, 201, good.text);
  const multi = await api(server, 'POST', '/v1/referrals', { body: referral({ question: 'Eerste lijn\nTweede\tlijn\r\n' }) });
  assert.equal(multi.status, 201, multi.text);
  assertProblem(await api(server, 'POST', '/v1/organisations', { body: { name: 'a\nb', sector: 'caw', regions: ['gent'] } }), 422, ['/name']);
});

test('unpaired surrogates are malformed JSON (400)', async () => {
  const res = await api(server, 'POST', '/v1/organisations', { raw: '{"name":"a\\ud800b","sector":"caw","regions":["gent"]}', headers: { 'content-type': 'application/json' } });
  assertProblem(res, 400);
});

test('6. an oversized request line or header block is a problem with X-Request-Id, not the library page', async () => {
  const long = await rawRequest(server, 'GET', `/v1/regions/${'a'.repeat(60000)}`);
  assertProblem(long, 414);
  assert.ok(long.headers.get('x-request-id'));
  const big = await rawRequest(server, 'GET', '/v1/regions', { headers: [['X-Padding', 'b'.repeat(40 * 1024)]] });
  assertProblem(big, 431);
  assert.ok(big.headers.get('x-request-id'));
  // Just under the limits is served.
  assert.equal((await rawRequest(server, 'GET', `/v1/regions?cursor=${'a'.repeat(100)}`)).status, 400);
  assert.equal((await rawRequest(server, 'GET', '/v1/regions', { headers: [['X-Padding', 'b'.repeat(12 * 1024)]] })).status, 200);
  // Far beyond the transport buffer (documented): the HTTP layer refuses it, the server lives on.
  const huge = await rawRequest(server, 'GET', '/v1/regions', { headers: [['X-Padding', 'b'.repeat(200 * 1024)]], unchecked: true });
  assert.equal(huge.status, 431);
  assert.equal((await api(server, 'GET', '/v1/regions/gent')).status, 200);
});
