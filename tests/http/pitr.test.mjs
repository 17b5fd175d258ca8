// A point-in-time restore must not strand syncing clients. A cluster of its
// own with WAL archiving: a base backup, writes, a named restore point, more
// writes (the future that the restore loses), then a restore to the point
// (a new timeline) and the API started on it. A client holding a cursor from
// the lost future gets 410; a cursor from before the point continues; a
// client that resyncs sees every change exactly once. Every write
// acknowledged before the restore point is present, none after.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, api, assertProblem, token, ROOT } from './lib.mjs';

const sh = (cmd) => execFileSync('bash', ['-c', `set -euo pipefail; source "${ROOT}/docker/local-env.sh"; ${cmd}`], { encoding: 'utf8' }).trim();
const dir = sh('d=$(mktemp -d /tmp/g1p-pitr.XXXXXX); chmod 755 "$d"; echo "$d"');
const port = Number(sh('g1p_free_port'));
const url = `postgresql:///g1p?host=${dir}&port=${port}&user=postgres`;
const q = (sql) => execFileSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
const start = (data) => sh(`g1p_as_pg "$PG_BIN/pg_ctl" -D "${data}" -l "${data}.log" -w -t 60 -o "-p ${port} -k ${dir} -c listen_addresses='' -c fsync=off -c wal_level=replica -c archive_mode=on -c archive_command='cp %p ${dir}/archive/%f'" start >/dev/null`);
const stop = (data) => sh(`g1p_as_pg "$PG_BIN/pg_ctl" -D "${data}" -m fast -w stop >/dev/null 2>&1 || true`);
let server;
after(async () => {
  await server?.stop().catch(() => {});
  stop(`${dir}/restored`);
  stop(`${dir}/primary`);
  fs.rmSync(dir, { recursive: true, force: true });
});

const sync = token({ sub: 'partner-sync', scope: 'referrals:read referrals:write', regions: ['*'] });
async function push(n, tag) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const r = await api(server, 'POST', '/v1/referrals', { token: sync, body: { region: 'gent', referrer: { kind: 'self' }, external_ref: `${tag}-${i}`, question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } } });
    assert.equal(r.status, 201, r.text);
    ids.push(r.body.id);
  }
  return ids;
}
// Reads the feed to its end from cursor; returns [changes, cursor].
async function follow(cursor) {
  const all = [];
  for (;;) {
    const res = await api(server, 'GET', `/v1/changes?after=${cursor}&limit=100`, { token: sync });
    if (res.status !== 200) return [res, cursor];
    all.push(...res.body.changes);
    if (res.body.changes.length === 0) return [all, res.body.next_after];
    cursor = res.body.next_after;
  }
}

test('restore to a point in time: cursors from the lost future get 410, older ones continue, a resync sees each change once', async () => {
  sh(`mkdir -p ${dir}/archive; chown -R postgres:postgres ${dir}; g1p_as_pg "$PG_BIN/initdb" -D ${dir}/primary -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null`);
  start(`${dir}/primary`);
  sh(`psql -X -q "postgresql:///postgres?host=${dir}&port=${port}&user=postgres" -c 'CREATE DATABASE g1p'`);
  server = await startServer({ db: url });
  const a = await push(4, 'A');
  const [, c1] = await follow('0');
  sh(`g1p_as_pg pg_basebackup -h ${dir} -p ${port} -U postgres -D ${dir}/backup -X stream -c fast`);
  const b = await push(4, 'B');
  const [, c2] = await follow(c1);
  q("SELECT pg_create_restore_point('before_c')");
  const c = await push(4, 'C');
  const [, c3] = await follow(c2);
  assert.ok(Number(c3.split('.').pop()) > Number(c2.split('.').pop()));
  q('SELECT pg_switch_wal()');
  const wal = q('SELECT pg_walfile_name(pg_current_wal_lsn())');
  for (let i = 0; i < 100 && q('SELECT coalesce(last_archived_wal, \'\') FROM pg_stat_archiver') < wal; i++) await new Promise((r) => setTimeout(r, 100));
  await server.stop();
  server = undefined;
  stop(`${dir}/primary`);

  // The restore: the base backup, the archive, up to the restore point, then a new timeline.
  sh(`cp -a ${dir}/backup ${dir}/restored && touch ${dir}/restored/recovery.signal &&
      printf "restore_command = 'cp ${dir}/archive/%%f %%p'\\nrecovery_target_name = 'before_c'\\nrecovery_target_action = 'promote'\\n" >> ${dir}/restored/postgresql.auto.conf &&
      chown -R postgres:postgres ${dir}/restored`);
  start(`${dir}/restored`);
  for (let i = 0; i < 100 && q('SELECT pg_is_in_recovery()') === 't'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(q('SELECT pg_is_in_recovery()'), 'f');
  server = await startServer({ db: url });
  const present = new Set(q('SELECT id FROM referrals').split('\n').filter(Boolean));
  assert.ok([...a, ...b].every((id) => present.has(id)), 'every write acknowledged before the restore point is there');
  assert.ok(c.every((id) => !present.has(id)), 'no write after it');

  const [gone] = await follow(c3);
  assertProblem(gone, 410);
  assert.match(gone.body.detail, /after=0/);
  const d = await push(2, 'D');
  const [continued, c4] = await follow(c2);
  assert.deepEqual(continued.filter((x) => x.op === 'create').map((x) => x.id), d, 'a cursor from before the point continues with what came after the restore');
  assert.match(c4, /\.2\.\d+$/, 'the cursor now names timeline 2');
  const [resync] = await follow('0');
  const ids = resync.map((x) => `${x.resource}:${x.id}:${x.version}:${x.op}`);
  assert.equal(new Set(ids).size, ids.length, 'each change once');
  assert.equal(resync.length, Number(q('SELECT count(*) FROM changes')));
  assert.deepEqual(resync.filter((x) => x.op === 'create').map((x) => x.id).sort(), [...a, ...b, ...d].sort());
  console.log(`# PITR: ${a.length + b.length} writes before the restore point kept, ${c.length} after it lost; cursor from the lost future 410; resync saw ${resync.length} changes once each`);
});
