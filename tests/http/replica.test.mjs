// DATABASE_READ_URL: a real streaming replica (pg_basebackup -R of a cluster
// of this test's own) serves the metrics and the audit trail; stopped in the
// middle, reads fall back to the primary (logged, never a 5xx); started
// again, it is used again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { startServer, api, token, ROOT } from './lib.mjs';

const sh = (cmd) => execFileSync('bash', ['-c', `set -euo pipefail; source "${ROOT}/docker/local-env.sh"; ${cmd}`], { encoding: 'utf8' }).trim();
const dir = sh('d=$(mktemp -d /tmp/g1p-replica.XXXXXX); chmod 755 "$d"; echo "$d"');
const [pport, rport] = [Number(sh('g1p_free_port')), Number(sh('g1p_free_port'))];
const urlOf = (port, name = 'g1p') => `postgresql:///${name}?host=${dir}&port=${port}&user=postgres`;
const q = (port, sql) => execFileSync('psql', [urlOf(port), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
const pgctl = (data, port, what) => sh(`g1p_as_pg "$PG_BIN/pg_ctl" -D "${data}" -l "${data}.log" -w -t 60 ${what === 'start' ? `-o "-p ${port} -k ${dir} -c listen_addresses='' -c fsync=off"` : '-m fast'} ${what} >/dev/null 2>&1 ${what === 'stop' ? '|| true' : ''}`);
let server;
after(async () => {
  await server?.stop().catch(() => {});
  pgctl(`${dir}/replica`, rport, 'stop');
  pgctl(`${dir}/primary`, pport, 'stop');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('metrics and audit come from the replica, fall back to the primary while it is down, and return to it', async () => {
  sh(`chown postgres:postgres ${dir}; g1p_as_pg "$PG_BIN/initdb" -D ${dir}/primary -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null`);
  pgctl(`${dir}/primary`, pport, 'start');
  sh(`psql -X -q "${urlOf(pport, 'postgres')}" -c 'CREATE DATABASE g1p'`);
  sh(`g1p_as_pg pg_basebackup -h ${dir} -p ${pport} -U postgres -D ${dir}/replica -X stream -R -c fast`);
  pgctl(`${dir}/replica`, rport, 'start');
  assert.equal(q(rport, 'SELECT pg_is_in_recovery()'), 't');
  server = await startServer({ db: urlOf(pport), env: { DATABASE_READ_URL: urlOf(rport), LOG_LEVEL: 'info' } });
  for (let i = 0; i < 5; i++) await api(server, 'POST', '/v1/referrals', { body: { region: 'gent', referrer: { kind: 'self' }, received_on: '2025-03-0' + (i + 1), question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } } });
  // Staleness: the replica shows a write once it has replayed it (here, milliseconds).
  for (let i = 0; i < 100 && q(rport, 'SELECT count(*) FROM referrals') !== '5'; i++) await new Promise((r) => setTimeout(r, 50));
  const reporter = token({ scope: 'metrics:read', regions: ['*'] });
  const metrics = () => api(server, 'GET', '/v1/metrics?from=2025-03-01&to=2025-03-31', { token: reporter });
  const audit = () => api(server, 'GET', '/v1/audit?resource=referral');
  const readers = () => Number(q(rport, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'g1p' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"));
  const m1 = await metrics();
  assert.equal(m1.status, 200);
  assert.equal(m1.body.rows[0].referrals_received, 5);
  assert.equal((await audit()).body.items.length, 5);
  assert.ok(readers() >= 1, 'the server reads from the replica');

  pgctl(`${dir}/replica`, rport, 'stop');
  for (let i = 0; i < 5; i++) {
    const m = await metrics();
    assert.equal(m.status, 200, m.text);
    assert.equal(m.body.rows[0].referrals_received, 5);
    assert.equal((await audit()).status, 200);
  }
  assert.match(server.output(), /read replica unreachable .*reporting reads use the primary/);

  pgctl(`${dir}/replica`, rport, 'start');
  await new Promise((r) => setTimeout(r, 5500)); // past the 5 s the primary stands in
  for (let i = 0; i < 3; i++) assert.equal((await metrics()).status, 200);
  assert.ok(readers() >= 1, 'the replica is used again');
});
