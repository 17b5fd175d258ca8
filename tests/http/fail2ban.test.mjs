// fail2ban: the filter in docker/fail2ban/ matches, with Debian's
// fail2ban-regex, exactly the lines the server writes for requests with an
// invalid token, and never a line of a successful request, of a request
// without a token, or the per-minute summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, token, ROOT, b64url } from './lib.mjs';

test('fail2ban-regex matches every invalid-token line and no other', async () => {
  const server = await startServer({ db: freshDb('fail2ban'), env: { LOG_LEVEL: 'info' } });
  const bad = [
    token({}, { secret: 'another-secret-that-is-long-enough-000000' }), // bad signature
    token({ exp: Math.floor(Date.now() / 1000) - 3600 }),               // expired
    'not.a.jwt',
    `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url('{"sub":"x","exp":9999999999}')}.`,
  ];
  const ok = 5;
  try {
    for (let i = 0; i < 3; i++) for (const t of bad) assert.equal((await api(server, 'GET', '/v1/regions', { token: t, unchecked: true })).status, 401);
    for (let i = 0; i < ok; i++) assert.equal((await api(server, 'GET', '/v1/regions')).status, 200);
    assert.equal((await api(server, 'GET', '/v1/regions', { token: null })).status, 401);
  } finally {
    await server.stop();
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-f2b-'));
  const log = path.join(dir, 'g1p-api.log');
  fs.writeFileSync(log, server.output());
  const r = spawnSync('fail2ban-regex', ['--print-all-matched', '--print-all-missed', log, path.join(ROOT, 'docker/fail2ban/filter.d/g1p-api.conf')], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const m = r.stdout.match(/Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/);
  assert.ok(m, r.stdout);
  assert.equal(Number(m[3]), bad.length * 3, r.stdout);
  const [matchedPart, missedPart] = r.stdout.split('Missed line(s)');
  const matched = matchedPart.split('\n').filter((l) => /^\|\s+\d{4}-/.test(l));
  const missed = missedPart.split('\n').filter((l) => /^\|\s+\d{4}-/.test(l));
  assert.equal(matched.length, bad.length * 3);
  assert.ok(matched.every((l) => l.includes('Security - invalid token from 127.0.0.1: ')), matched.join('\n'));
  // Every successful request's line, and every 401's access-log line (the request without a token too), are missed.
  assert.equal(missed.filter((l) => / GET \/v1\/regions 200 /.test(l)).length, ok);
  assert.equal(missed.filter((l) => / GET \/v1\/regions 401 /.test(l)).length, bad.length * 3 + 1);
});
