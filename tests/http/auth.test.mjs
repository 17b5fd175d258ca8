// The JWT gate: which tokens get in (401 otherwise) and which scopes allow
// what (403 otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, assertProblem, token, b64url } from './lib.mjs';

let server;
before(async () => {
  server = await startServer({ db: freshDb('auth'), env: { JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'g1p-api' } });
});
after(async () => { await server?.stop(); });

const good = (claims = {}, opts) => token({ iss: 'https://idp.test', aud: 'g1p-api', ...claims }, opts);
const now = () => Math.floor(Date.now() / 1000);

test('a valid token reads regions', async () => {
  const res = await api(server, 'GET', '/v1/regions/gent', { token: good() });
  assert.equal(res.status, 200);
  assert.equal(res.body.code, 'gent');
});

const rejected = {
  'no Authorization header': null,
  'not a bearer scheme': 'Basic dXNlcjpwYXNz',
  'garbage': 'Bearer not-a-jwt',
  'expired beyond the leeway': `Bearer ${good({ exp: now() - 120 })}`,
  'exp missing': `Bearer ${good({ exp: undefined })}`,
  'exp not a number': `Bearer ${good({ exp: 'tomorrow' })}`,
  'not yet valid (nbf)': `Bearer ${good({ nbf: now() + 300 })}`,
  'wrong issuer': `Bearer ${good({ iss: 'https://evil.test' })}`,
  'wrong audience': `Bearer ${good({ aud: 'other-api' })}`,
  'signed with another secret': `Bearer ${good({}, { secret: 'another-secret-that-is-long-enough-000' })}`,
  'alg none': `Bearer ${good({}, { header: { alg: 'none' } })}`,
  'alg none without signature part': `Bearer ${good({}, { header: { alg: 'none' } }).replace(/\.$/, '')}`,
  'RS256 with an unknown kid': `Bearer ${b64url(JSON.stringify({ alg: 'RS256', kid: '../../etc/passwd' }))}.${b64url('{}')}.c2ln`,
  'sub missing': `Bearer ${good({ sub: undefined })}`,
  'regions not an array': `Bearer ${good({ regions: 'gent' })}`,
  'duplicate claims': `Bearer ${good({}, { rawPayload: `{"sub":"a","sub":"b","exp":${now() + 600},"iss":"https://idp.test","aud":"g1p-api"}` })}`,
  'token over 8 KiB': `Bearer ${good({ pad: 'x'.repeat(9000) })}`,
};

for (const [name, header] of Object.entries(rejected)) {
  test(`401 for ${name}`, async () => {
    const res = await api(server, 'GET', '/v1/regions', { token: null, headers: header ? { authorization: header } : {} });
    assertProblem(res, 401);
    assert.match(res.headers.get('www-authenticate'), /^Bearer/);
  });
}

test('a tampered payload fails the signature check', async () => {
  const t = good({ scope: 'referrals:read' });
  const [h, , s] = t.split('.');
  const forged = `${h}.${b64url(JSON.stringify({ sub: 'x', scope: 'admin', regions: ['*'], exp: now() + 600, iss: 'https://idp.test', aud: 'g1p-api' }))}.${s}`;
  assertProblem(await api(server, 'GET', '/v1/regions', { token: forged }), 401);
});

test('the failed-token log line names the reason, never the token', async () => {
  const t = good({ exp: now() - 500 });
  await api(server, 'GET', '/v1/regions', { token: t });
  assert.match(server.output(), /Security - invalid token from 127\.0\.0\.1: token expired/);
  assert.ok(!server.output().includes(t), 'token must not be logged');
});

test('403 when the scope is missing', async () => {
  const coach = good({ scope: 'plans:read plans:write', regions: ['gent'] });
  const res = await api(server, 'POST', '/v1/regions', { token: coach, body: { code: 'x-y', name: 'X', province: 'Limburg' } });
  assertProblem(res, 403);
  assertProblem(await api(server, 'PATCH', '/v1/regions/gent', { token: coach, body: { name: 'Y' } }), 403);
  assertProblem(await api(server, 'POST', '/v1/organisations', { token: coach, body: { name: 'O', sector: 'caw' } }), 403);
});

test('a family token reaches no reference data (403)', async () => {
  const fam = good({ scope: 'plan:family', family: '6f1c1f4e-4a1b-4c55-9a57-1b0c7d2f8e10', regions: undefined });
  assertProblem(await api(server, 'GET', '/v1/regions', { token: fam }), 403);
  assertProblem(await api(server, 'GET', '/v1/organisations', { token: fam }), 403);
});

test('a token with no scopes may still read reference data', async () => {
  const res = await api(server, 'GET', '/v1/regions', { token: good({ scope: undefined, regions: ['gent'] }) });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.items.map((r) => r.code), ['gent']);
});
