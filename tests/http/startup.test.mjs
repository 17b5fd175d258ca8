// Start-up: configuration errors stop the process with one clear line,
// migrations apply once (also when two instances start together), the
// migrate subcommand, and a graceful stop that lets a request finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, freshDb, api, psql, BIN, ROOT, SECRET } from './lib.mjs';

const migrationFiles = fs.readdirSync(path.join(ROOT, 'sql')).filter((f) => f.endsWith('.sql')).sort();

function run(env, args = []) {
  return spawnSync(BIN, args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30000 });
}

test('bad configuration stops start-up with one clear line and exit code 2', () => {
  const db = 'postgresql:///nowhere';
  const cases = [
    [{ DATABASE_URL: db, JWT_HS256_SECRET: 'short' }, /JWT_HS256_SECRET must be at least 32 bytes/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, PORT: '70000' }, /PORT must be a whole number from 1 to 65535/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, DB_POOL_SIZE: 'many' }, /DB_POOL_SIZE/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, LOG_LEVEL: 'chatty' }, /LOG_LEVEL/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, DB_PREPARED_STATEMENTS: 'maybe' }, /DB_PREPARED_STATEMENTS must be on or off/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, MAX_BODY_BYTES: '10' }, /MAX_BODY_BYTES/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, CORS_ALLOWED_ORIGINS: 'https://coach.example.be/' }, /CORS_ALLOWED_ORIGINS: "https:\/\/coach.example.be\/" is not an origin/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, CORS_ALLOWED_ORIGINS: '*' }, /CORS_ALLOWED_ORIGINS: "\*" is not an origin/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, CORS_ALLOWED_ORIGINS: 'https://a.be,,https://b.be' }, /CORS_ALLOWED_ORIGINS/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, PORT: '8080', METRICS_PORT: '8080' }, /METRICS_PORT must differ from PORT/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, METRICS_PORT: '99999' }, /METRICS_PORT must be a whole number/],
    [{ DATABASE_URL: db, JWT_HS256_SECRET: SECRET, DATABASE_READ_URL: 'replica-host 5432' }, /DATABASE_READ_URL cannot be parsed/],
    [{ JWT_HS256_SECRET: SECRET }, /DATABASE_URL is not set/],
    [{ DATABASE_URL: db }, /set JWT_HS256_SECRET, JWT_PUBLIC_KEYS_DIR, JWT_JWKS_FILE, JWT_JWKS_URL or JWT_OIDC_ISSUER/],
    [{ DATABASE_URL: db, JWT_JWKS_URL: 'http://127.0.0.1:1/jwks' }, /JWT_JWKS_URL must start with https:\/\//],
    [{ DATABASE_URL: db, JWT_OIDC_ISSUER: 'ftp://idp.example.be' }, /JWT_OIDC_ISSUER must start with https:\/\//],
    [{ DATABASE_URL: db, JWT_OIDC_ISSUER: 'https://idp.example.be/realms/g1p', JWT_ISSUER: 'https://other' }, /JWT_ISSUER and JWT_OIDC_ISSUER differ/],
    [{ DATABASE_URL: db, JWT_JWKS_URL: 'https://idp.example.be/jwks', JWT_JWKS_REFRESH_SECONDS: '0' }, /JWT_JWKS_REFRESH_SECONDS/],
    [{ DATABASE_URL: db, JWT_JWKS_URL: 'https://idp.example.be/jwks', JWT_JWKS_ALLOW_HTTP: 'yes' }, /JWT_JWKS_ALLOW_HTTP/],
  ];
  for (const [env, message] of cases) {
    const r = run(env);
    assert.equal(r.status, 2, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const usage = run({}, ['frobnicate']);
  assert.equal(usage.status, 2);
});

test('an unreachable database stops start-up with exit code 1', () => {
  const r = run({ DATABASE_URL: 'postgresql://127.0.0.1:1/none?connect_timeout=1', JWT_HS256_SECRET: SECRET });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot connect to the database/);
});

test('g1p-api migrate applies every migration once and is idempotent', () => {
  const db = freshDb('migrate');
  const first = run({ DATABASE_URL: db }, ['migrate']);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(psql(db, 'SELECT string_agg(name, \',\' ORDER BY name) FROM schema_migrations'), migrationFiles.join(','));
  const second = run({ DATABASE_URL: db }, ['migrate']);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout + second.stderr, /migrations: 0 applied/);
  assert.equal(Number(psql(db, 'SELECT count(*) FROM schema_migrations')), migrationFiles.length);
  assert.equal(Number(psql(db, 'SELECT count(*) FROM regions')), 6);
});

test('two servers starting together on one empty database apply each migration once', async () => {
  const db = freshDb('concurrent');
  const [a, b] = await Promise.all([startServer({ db, env: { LOG_LEVEL: 'info' } }), startServer({ db, env: { LOG_LEVEL: 'info' } })]);
  try {
    assert.equal(Number(psql(db, 'SELECT count(*) FROM schema_migrations')), migrationFiles.length);
    assert.equal(Number(psql(db, 'SELECT count(*) FROM regions')), 6);
    const applied = [a, b].map((s) => Number(/migrations: (\d+) applied/.exec(s.output())[1]));
    assert.deepEqual(applied.sort(), [0, migrationFiles.length]);
    assert.equal((await api(a, 'GET', '/v1/regions/gent')).status, 200);
    assert.equal((await api(b, 'GET', '/v1/regions/gent')).status, 200);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('restarting on a migrated database applies nothing and serves at once', async () => {
  const db = freshDb('restart');
  const s1 = await startServer({ db, env: { LOG_LEVEL: 'info' } });
  await api(s1, 'POST', '/v1/regions', { body: { code: 'kept', name: 'Kept', province: 'Brussel' } });
  await s1.stop();
  const s2 = await startServer({ db, env: { LOG_LEVEL: 'info' } });
  try {
    assert.match(s2.output(), /migrations: 0 applied/);
    assert.equal((await api(s2, 'GET', '/v1/regions/kept')).status, 200);
  } finally {
    await s2.stop();
  }
});

test('SIGTERM drains: a request in flight still gets its answer, then exit 0', async () => {
  const db = freshDb('drain');
  const s = await startServer({ db, env: { LOG_LEVEL: 'info' } });
  const pending = api(s, 'GET', '/v1/organisations?limit=500');
  s.proc.kill('SIGTERM');
  const res = await pending.catch((e) => ({ status: 0, error: e }));
  // Either it was accepted and answered, or the listener was already closed;
  // an accepted request is never cut off.
  assert.ok(res.status === 200 || res.status === 0, `status ${res.status}`);
  const { code } = await s.exited;
  assert.equal(code, 0, s.output());
  assert.match(s.output(), /stopped/);
});

test('with DB_PREPARED_STATEMENTS=off (PgBouncer transaction mode) reads and writes still work', async () => {
  const db = freshDb('unprepared');
  const s = await startServer({ db, env: { DB_PREPARED_STATEMENTS: 'off' } });
  try {
    assert.equal((await api(s, 'GET', '/v1/regions/gent')).status, 200);
    const created = await api(s, 'POST', '/v1/organisations', { body: { name: 'Unprepared', sector: 'caw', regions: ['gent'] } });
    assert.equal(created.status, 201);
    assert.equal((await api(s, 'GET', `/v1/organisations/${created.body.id}`)).body.name, 'Unprepared');
  } finally {
    await s.stop();
  }
});
