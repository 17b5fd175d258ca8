// Keys from the identity provider: a local OpenID provider (discovery
// document and JWKS, served by this test) rotates its keys; the API follows.
// A token of a new key is accepted after the refetch its unknown kid asks
// for (one fetch, not one per request), a removed key's tokens stop, every
// bad key set is refused while the current keys stay, https with a private
// CA works and a redirect to http is refused. Tokens shaped as Keycloak and
// Microsoft Entra issue them; the key file and SIGHUP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, token, freePort } from './lib.mjs';

const rsa1 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
const jwk = (pair, kid, extra = {}) => ({ ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig', ...extra });
const R1 = jwk(rsa1, 'r1', { alg: 'RS256' });
const R2 = jwk(rsa2, 'r2', { alg: 'RS256' });
const E1 = jwk(ec1, 'e1', { alg: 'ES256' });

// The identity provider: what it serves, and how often it was asked.
function provider(serverFactory = http.createServer, options = {}) {
  const idp = { keys: [R1, E1], mode: 'ok', fetches: 0, raw: null };
  const srv = serverFactory(options, (req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ issuer: idp.issuer, jwks_uri: `${idp.issuer}/jwks`, token_endpoint: `${idp.issuer}/token` }));
    }
    if (req.url !== '/jwks') { res.writeHead(404); return res.end(); }
    idp.fetches++;
    if (idp.mode === 'hang') return; // never answers: the client's timeout must end it
    if (idp.mode === 'status500') { res.writeHead(500); return res.end('oops'); }
    if (idp.mode === 'redirect') { res.writeHead(302, { location: idp.redirectTo }); return res.end(); }
    if (idp.mode === 'huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 10; i++) res.write(chunk);
      return res.end('{}');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(idp.raw ?? JSON.stringify({ keys: idp.keys }));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => {
    idp.port = srv.address().port;
    idp.issuer = `${serverFactory === http.createServer ? 'http' : 'https'}://127.0.0.1:${idp.port}`;
    idp.close = () => { srv.closeAllConnections?.(); srv.close(); };
    resolve(idp);
  }));
}

const rs = (kid, pair, claims = {}, header = {}) => token(claims, { alg: 'RS256', key: pair.privateKey, header: { kid, ...header } });
const es = (kid, pair, claims = {}, header = {}) => token(claims, { alg: 'ES256', key: pair.privateKey, header: { kid, ...header } });
const status = async (server, t, p = '/v1/regions/gent') => (await api(server, 'GET', p, { token: t })).status;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms = 8000) {
  const end = Date.now() + ms;
  while (!(await cond())) { if (Date.now() > end) return false; await sleep(25); }
  return true;
}

let idp, db, server;
const oidcEnv = (extra = {}) => ({ JWT_HS256_SECRET: undefined, JWT_OIDC_ISSUER: idp.issuer, JWT_JWKS_ALLOW_HTTP: '1', JWT_AUDIENCE: 'g1p-api', LOG_LEVEL: 'info', ...extra });

before(async () => {
  idp = await provider();
  db = freshDb('jwks');
  server = await startServer({ db, env: oidcEnv() });
});
after(async () => { await server?.stop(); idp?.close(); });

const claims = (extra = {}) => ({ iss: idp.issuer, aud: 'g1p-api', ...extra });

test('OpenID discovery: RS256 and ES256 tokens of the published keys are accepted; iss and the key\'s alg are enforced', async () => {
  assert.equal(await status(server, rs('r1', rsa1, claims())), 200);
  assert.equal(await status(server, es('e1', ec1, claims())), 200);
  assert.equal(await status(server, rs('r1', rsa1, claims({ iss: 'https://evil.example.com' }))), 401);
  assert.equal(await status(server, rs('r1', rsa1, claims({ aud: 'other-api' }))), 401);
  // An ES256 token naming the RSA key (and the other way round) never verifies.
  assert.equal(await status(server, es('r1', ec1, claims())), 401);
  assert.equal(await status(server, rs('e1', rsa1, claims())), 401);
  // HS256 is not configured at all.
  assert.equal(await status(server, token(claims())), 401);
});

test('a new key is used at once: its unknown kid triggers one fetch, and then a flood of unknown kids triggers none', async () => {
  const before = idp.fetches;
  idp.keys = [R1, R2, E1];
  assert.equal(await status(server, rs('r2', rsa2, claims())), 200);
  assert.equal(idp.fetches, before + 1, 'exactly one fetch for the new kid');
  const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => status(server, rs(`nope-${i % 3}`, rsa1, claims()))));
  assert.ok(flood.every((s) => s === 401));
  assert.equal(idp.fetches, before + 1, `unknown kids within 30 s fetch nothing more (fetched ${idp.fetches - before})`);
  assert.equal(await status(server, rs('r2', rsa2, claims())), 200);
});

test('tokens as Keycloak and Microsoft Entra issue them; ID tokens and other token types are refused', async () => {
  const keycloak = claims({ aud: ['account', 'g1p-api'], typ: 'Bearer', azp: 'coach-app', scope: 'openid profile email referrals:read', regions: ['gent'], sub: 'f:1234:coach' });
  assert.equal(await status(server, rs('r1', rsa1, keycloak, { typ: 'JWT' }), '/v1/referrals'), 200);
  assert.equal(await status(server, rs('r1', rsa1, { ...keycloak, typ: 'ID' }), '/v1/referrals'), 401);
  assert.equal(await status(server, rs('r1', rsa1, { ...keycloak, typ: 'Refresh' }), '/v1/referrals'), 401);
  const entra = claims({ ver: '2.0', scp: 'referrals:read plans:read', scope: undefined, tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', oid: 'c0ffee00-0000-4000-8000-000000000001' });
  assert.equal(await status(server, rs('r1', rsa1, entra), '/v1/referrals'), 200);
  // scp as an array, and scopes split over scope and scp.
  assert.equal(await status(server, rs('r1', rsa1, claims({ scope: undefined, scp: ['referrals:read'] })), '/v1/referrals'), 200);
  assert.equal(await status(server, rs('r1', rsa1, claims({ scope: 'plans:read', scp: 'referrals:read' })), '/v1/referrals'), 200);
  assert.equal(await status(server, rs('r1', rsa1, claims({ scope: undefined, scp: 'plans:read' })), '/v1/referrals'), 403);
  assert.equal(await status(server, rs('r1', rsa1, claims({ scope: undefined, scp: 7 }))), 401);
  assert.equal(await status(server, rs('r1', rsa1, claims({ scope: undefined, scp: ['referrals:read', 7] }))), 401);
  // Header typ: JWT or none; RFC 9068's at+jwt is refused (documented).
  assert.equal(await status(server, rs('r1', rsa1, claims(), { typ: undefined })), 200);
  assert.equal(await status(server, rs('r1', rsa1, claims(), { typ: 'at+jwt' })), 401);
});

test('a removed key\'s tokens stop after the periodic refresh; bad key sets are refused and the current keys stay', async () => {
  const local = await provider();
  local.keys = [R1, R2];
  const s = await startServer({ db, env: { JWT_HS256_SECRET: undefined, JWT_JWKS_URL: `${local.issuer}/jwks`, JWT_JWKS_ALLOW_HTTP: '1', JWT_JWKS_REFRESH_SECONDS: '1', JWT_JWKS_TIMEOUT_SECONDS: '1', LOG_LEVEL: 'info' } });
  try {
    assert.equal(await status(s, rs('r1', rsa1)), 200);
    local.keys = [R2];
    assert.ok(await until(async () => (await status(s, rs('r1', rsa1))) === 401), 'r1 refused after the refresh');
    assert.equal(await status(s, rs('r2', rsa2)), 200);
    const bad = {
      'malformed JSON': { raw: '{"keys": [' },
      'a JWK without n': { raw: JSON.stringify({ keys: [{ ...R2, n: undefined }] }) },
      'n not base64url': { raw: JSON.stringify({ keys: [{ ...R2, n: `${R2.n.slice(0, -4)}+/==` }] }) },
      'a 1,024-bit RSA key': { raw: JSON.stringify({ keys: [jwk(weak, 'w1')] }) },
      'an oct key': { raw: JSON.stringify({ keys: [R2, { kty: 'oct', kid: 's1', k: 'c2VjcmV0' }] }) },
      'alg none': { raw: JSON.stringify({ keys: [{ ...R2, alg: 'none' }] }) },
      'duplicate kids': { raw: JSON.stringify({ keys: [R2, { ...jwk(rsa1, 'r2') }] }) },
      'a 10 MB answer': { mode: 'huge' },
      'an answer that hangs': { mode: 'hang' },
      'HTTP 500': { mode: 'status500' },
    };
    for (const [what, serve] of Object.entries(bad)) {
      const logged = (s.output().match(/key refresh failed/g) || []).length;
      local.raw = serve.raw ?? null;
      local.mode = serve.mode ?? 'ok';
      assert.ok(await until(() => (s.output().match(/key refresh failed/g) || []).length > logged), `${what}: refused and logged`);
      assert.equal(await status(s, rs('r2', rsa2)), 200, `${what}: the current keys stay`);
      assert.equal((await api(s, 'GET', '/health', { token: null })).status, 200);
    }
    local.raw = null;
    local.mode = 'ok';
    local.keys = [R1];
    assert.ok(await until(async () => (await status(s, rs('r1', rsa1))) === 200), 'a good set is taken again');
    assert.match(s.output(), /Security - key refresh failed, keeping the current keys: .*at least 2048 are required/);
    assert.match(s.output(), /larger than 1048576 bytes/);
    assert.match(s.output(), /HTTP status 500/);
  } finally {
    await s.stop();
    local.close();
  }
});

test('https with a private CA works; a redirect to http is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-idp-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const tls = await provider(https.createServer, { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) });
  const plainIdp = await provider();
  plainIdp.keys = [R2];
  tls.mode = 'redirect';
  tls.redirectTo = `${plainIdp.issuer}/jwks`;
  const s = await startServer({ db, env: { JWT_HS256_SECRET: undefined, JWT_OIDC_ISSUER: tls.issuer, JWT_JWKS_CA_FILE: path.join(dir, 'cert.pem'), JWT_JWKS_REFRESH_SECONDS: '1', LOG_LEVEL: 'info' } });
  try {
    assert.ok(await until(() => /key refresh failed, keeping the current keys: .*(not supported|disabled|Protocol)/i.test(s.output())), s.output());
    assert.equal(plainIdp.fetches, 0, 'the http URL was never fetched');
    assert.equal(await status(s, rs('r2', rsa2, { iss: tls.issuer })), 401);
    tls.mode = 'ok';
    tls.keys = [R2];
    assert.ok(await until(async () => (await status(s, rs('r2', rsa2, { iss: tls.issuer }))) === 200), 'keys over https with the private CA');
  } finally {
    await s.stop();
    tls.close();
    plainIdp.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('JWT_JWKS_FILE: read at start, reloaded on SIGHUP; a broken file keeps the keys; a bad file stops start-up', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-jwks-file-'));
  const file = path.join(dir, 'jwks.json');
  fs.writeFileSync(file, JSON.stringify({ keys: [R1] }));
  const s = await startServer({ db, env: { JWT_HS256_SECRET: undefined, JWT_JWKS_FILE: file, LOG_LEVEL: 'info' } });
  try {
    assert.equal(await status(s, rs('r1', rsa1)), 200);
    assert.equal(await status(s, rs('r2', rsa2)), 401);
    fs.writeFileSync(file, JSON.stringify({ keys: [R2] }));
    s.proc.kill('SIGHUP');
    assert.ok(await until(async () => (await status(s, rs('r2', rsa2))) === 200));
    assert.equal(await status(s, rs('r1', rsa1)), 401);
    fs.writeFileSync(file, '{"keys": [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]}');
    s.proc.kill('SIGHUP');
    assert.ok(await until(() => /key file reload failed, keeping its current keys/.test(s.output())));
    assert.equal(await status(s, rs('r2', rsa2)), 200);
  } finally {
    await s.stop();
  }
  fs.writeFileSync(file, JSON.stringify({ keys: [jwk(weak, 'w1')] }));
  await assert.rejects(startServer({ db, env: { JWT_HS256_SECRET: undefined, JWT_JWKS_FILE: file } }), /JWT_JWKS_FILE .*at least 2048 are required/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an unreachable identity provider at start: the server starts, answers 401, and takes the keys once they are published', async () => {
  const port = await freePort();
  const s = await startServer({ db, env: { JWT_HS256_SECRET: undefined, JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks`, JWT_JWKS_ALLOW_HTTP: '1', JWT_JWKS_REFRESH_SECONDS: '1', LOG_LEVEL: 'info' } });
  try {
    assert.equal(await status(s, rs('r1', rsa1)), 401);
    assert.match(s.output(), /key refresh failed/);
    const late = http.createServer((req, res) => { res.writeHead(200); res.end(JSON.stringify({ keys: [R1] })); });
    await new Promise((r) => late.listen(port, '127.0.0.1', r));
    try {
      assert.ok(await until(async () => (await status(s, rs('r1', rsa1))) === 200, 10000));
    } finally { late.close(); }
  } finally {
    await s.stop();
  }
});
