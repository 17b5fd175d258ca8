// JWT hardening with public keys: RS256/ES256 chosen by kid, algorithm
// confusion, hostile kids, and key rotation by SIGHUP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, assertProblem, token } from './lib.mjs';

let server, keysDir;
const rsa1 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa3 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (pair) => pair.publicKey.export({ type: 'spki', format: 'pem' });

before(async () => {
  keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-keys-'));
  fs.writeFileSync(path.join(keysDir, 'k1.pem'), pem(rsa1));
  fs.writeFileSync(path.join(keysDir, 'k2.pem'), pem(rsa2));
  fs.writeFileSync(path.join(keysDir, 'ec1.pem'), pem(ec1));
  fs.writeFileSync(path.join(keysDir, 'README.txt'), 'not a key: ignored');
  // Public keys only: no HS256 secret is configured at all.
  server = await startServer({ db: freshDb('jwt'), env: { JWT_HS256_SECRET: undefined, JWT_PUBLIC_KEYS_DIR: keysDir, LOG_LEVEL: 'info' } });
});
after(async () => {
  await server?.stop();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

const rs = (kid, key, claims = {}, header = {}) => token(claims, { alg: 'RS256', key: key.privateKey, header: { kid, ...header } });
const status = async (t) => (await api(server, 'GET', '/v1/regions/gent', { token: t })).status;

test('RS256 and ES256 tokens are accepted with the key their kid names', async () => {
  assert.equal(await status(rs('k1', rsa1)), 200);
  assert.equal(await status(rs('k2', rsa2)), 200);
  assert.equal(await status(token({}, { alg: 'ES256', key: ec1.privateKey, header: { kid: 'ec1' } })), 200);
});

test('a token signed by one key but naming another kid is refused', async () => {
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k2', rsa1) }), 401);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k1', rsa3) }), 401);
});

test('algorithm confusion: HS256 keyed with the public key PEM is refused', async () => {
  for (const secret of [pem(rsa1), pem(rsa1).trim()]) {
    const t = token({}, { alg: 'HS256', secret, header: { kid: 'k1' } });
    assertProblem(await api(server, 'GET', '/v1/regions', { token: t }), 401);
  }
  assert.match(server.output(), /Security - invalid token from 127\.0\.0\.1: algorithm not accepted/);
});

test('an EC key cannot verify an RS256 token, an RSA key no ES256 token', async () => {
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('ec1', rsa1) }), 401);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: token({}, { alg: 'ES256', key: ec1.privateKey, header: { kid: 'k1' } }) }), 401);
});

test('alg none, unknown algorithms, unknown and hostile kids are refused', async () => {
  const cases = [
    token({}, { header: { alg: 'none', kid: 'k1' } }),
    rs('k1', rsa1, {}, { alg: 'RS512' }),
    rs('k1', rsa1, {}, { alg: 'PS256' }),
    rs('nope', rsa1),
    rs('../k1', rsa1),
    rs('k1.pem', rsa1),
    rs('/etc/passwd', rsa1),
    rs('..', rsa1),
    rs('', rsa1),
    rs('README', rsa1),
    rs(undefined, rsa1),
    rs('k1', rsa1, {}, { typ: 'at+jwt' }),
  ];
  for (const t of cases) assertProblem(await api(server, 'GET', '/v1/regions', { token: t }), 401);
});

test('claims are still checked on public-key tokens', async () => {
  const now = Math.floor(Date.now() / 1000);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k1', rsa1, { exp: now - 3600 }) }), 401);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k1', rsa1, { exp: undefined }) }), 401);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k1', rsa1, { nbf: now + 3600 }) }), 401);
  assertProblem(await api(server, 'GET', '/v1/regions', { token: rs('k1', rsa1, { regions: { gent: true } }) }), 401);
});

test('key rotation: remove a key and SIGHUP, its tokens stop; add one and SIGHUP, its tokens start', async () => {
  const oldToken = rs('k1', rsa1);
  const newToken = rs('k3', rsa3);
  assert.equal(await status(oldToken), 200);
  assert.equal(await status(newToken), 401);
  fs.unlinkSync(path.join(keysDir, 'k1.pem'));
  fs.writeFileSync(path.join(keysDir, 'k3.pem'), pem(rsa3));
  server.proc.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (!/keys reloaded/.test(server.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(server.output(), /Security - keys reloaded: 3 public key/);
  assert.equal(await status(oldToken), 401);
  assert.equal(await status(newToken), 200);
  assert.equal(await status(rs('k2', rsa2)), 200);
  // a broken key file makes the reload fail and keeps the keys in force
  fs.writeFileSync(path.join(keysDir, 'broken.pem'), 'not a key');
  server.proc.kill('SIGHUP');
  const until = Date.now() + 5000;
  while (!/key reload failed/.test(server.output()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.match(server.output(), /Security - key reload failed, keeping the current keys/);
  assert.equal(await status(newToken), 200);
  fs.unlinkSync(path.join(keysDir, 'broken.pem'));
});

test('a keys folder with a bad file stops start-up', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-badkeys-'));
  fs.writeFileSync(path.join(dir, 'x.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await assert.rejects(startServer({ db: freshDb('jwtbad'), env: { JWT_HS256_SECRET: undefined, JWT_PUBLIC_KEYS_DIR: dir } }), /not a PEM public key/);
  fs.rmSync(dir, { recursive: true, force: true });
});
