// Faults: PostgreSQL restarted under load (fast and immediate shutdown), the
// server killed with SIGKILL mid-load, slow and idle clients. Loopback only,
// bounded in time and count. Each prints its counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, token, psql, ROOT, SANITIZED } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const coordinator = () => token({ sub: 'fault-tester', scope: 'referrals:read referrals:write plans:read plans:write', regions: ['*'] });
const referralBody = (ref) => ({ region: 'gent', referrer: { kind: 'self' }, external_ref: ref, received_on: '2025-01-06', question: `Vraag ${ref}`, question_kind: 'consult', family: { label: 'F', postcode: '9000' } });

function cluster(...args) {
  const r = spawnSync('bash', [path.join(ROOT, 'tests/pg-cluster.sh'), ...args], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`pg-cluster ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

test('PostgreSQL restarted under load: acknowledged writes kept, outage is 503 with Retry-After, recovery within 5 s', { timeout: 120000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-fault-pg-'));
  const [host, port] = cluster('start', dir).split(' ');
  const admin = `postgresql:///postgres?host=${host}&port=${port}&user=postgres`;
  psql(admin, 'CREATE DATABASE fault');
  const db = `postgresql:///fault?host=${host}&port=${port}&user=postgres`;
  const server = await startServer({ db, env: { DB_POOL_SIZE: '4' } });
  try {
    const fam = await api(server, 'POST', '/v1/families', { token: coordinator(), body: { region: 'gent', label: 'Gezin F.' } });
    await api(server, 'PUT', `/v1/families/${fam.body.id}/plan`, { token: coordinator(), body: { family_question: 'Q' }, headers: { 'if-none-match': '*' } });
    const acked = new Map();
    const planVersions = [];
    const counts = {};
    let slowest = 0;
    let stop = false;
    const timed = async (fn) => {
      const t0 = Date.now();
      const res = await fn();
      slowest = Math.max(slowest, Date.now() - t0);
      counts[res.status] = (counts[res.status] || 0) + 1;
      if (res.status === 503) assert.ok(Number(res.headers.get('retry-after')) > 0, 'a 503 says when to retry');
      else assert.ok(res.status < 500, `unexpected ${res.status}: ${res.text}`);
      return res;
    };
    const pusher = async (w) => {
      for (let i = 0; !stop && i < 5000; i++) {
        const ref = `p${w}-${i}`;
        const res = await timed(() => api(server, 'POST', '/v1/referrals', { token: coordinator(), body: referralBody(ref) }));
        if (res.status === 201 || res.status === 200) acked.set(ref, res.body.id);
        if (res.status === 503) await sleep(20);
      }
    };
    const planner = async () => {
      for (let i = 0; !stop && i < 5000; i++) {
        const res = await timed(() => api(server, 'PATCH', `/v1/families/${fam.body.id}/plan`, { token: coordinator(), body: { strengths: [`s${i}`] }, headers: { 'if-match': '*' } }));
        if (res.status === 200) planVersions.push(res.body.version);
        if (res.status === 503) await sleep(20);
      }
    };
    const load = [pusher(0), pusher(1), pusher(2), planner()];
    const recoveries = [];
    for (const mode of ['fast', 'immediate']) {
      await sleep(700);
      cluster('stop', dir, mode);
      await sleep(1200);
      const during = await api(server, 'GET', '/v1/regions/gent', { token: coordinator() });
      assert.equal(during.status, 503);
      assert.equal((await api(server, 'GET', '/ready', { token: null })).status, 503);
      cluster('start', dir, port);
      const back = Date.now();
      while ((await api(server, 'GET', '/v1/regions/gent', { token: coordinator() })).status !== 200) {
        assert.ok(Date.now() - back < 5000, 'the service recovers within 5 s of the database returning');
        await sleep(50);
      }
      recoveries.push(Date.now() - back);
    }
    await sleep(500);
    stop = true;
    await Promise.all(load);

    const stored = new Map(psql(db, "SELECT external_ref || ' ' || id FROM referrals").split('\n').map((l) => l.split(' ')));
    for (const [ref, id] of acked) assert.equal(stored.get(ref), id, `acknowledged ${ref} is stored`);
    const kept = new Set(psql(db, `SELECT string_agg(version::text, ',') FROM plan_versions WHERE family_id = '${fam.body.id}'`).split(','));
    for (const v of planVersions) assert.ok(kept.has(String(v)), `acknowledged plan version ${v} is kept`);
    assert.equal(Number(psql(db, 'SELECT count(*) FROM referrals r WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.resource_id = r.id::text AND a.action = \'create\')')), 0);
    assert.ok(slowest < 10000, `no request hung (slowest ${slowest} ms)`);
    assert.ok(counts[503] > 0 && acked.size > 0);
    console.log(`db restarts: ${JSON.stringify(counts)} responses, ${acked.size} referrals and ${planVersions.length} plan versions acknowledged and found, recovery ${recoveries.join(' / ')} ms, slowest request ${slowest} ms`);
  } finally {
    await server.stop();
    cluster('remove', dir);
  }
});

test('the server killed with SIGKILL mid-load and restarted: no partial writes, retries make no duplicates', { timeout: 120000 }, async () => {
  const db = freshDb('sigkill');
  const first = await startServer({ db });
  const attempted = [];
  let stop = false;
  const pusher = async (w) => {
    for (let i = 0; !stop && i < 5000; i++) {
      const ref = `k${w}-${i}`;
      attempted.push(ref);
      try {
        await api(first, 'POST', '/v1/referrals', { token: coordinator(), body: referralBody(ref), unchecked: true });
      } catch { /* the connection died with the server */ }
    }
  };
  const load = [0, 1, 2, 3].map(pusher);
  await sleep(800);
  first.proc.kill('SIGKILL');
  await first.exited;
  stop = true;
  await Promise.all(load);
  const before = Number(psql(db, 'SELECT count(*) FROM referrals'));
  const second = await startServer({ db });
  try {
    // the partner system retries everything it is not sure of
    let created = 0, repeated = 0;
    for (const ref of attempted) {
      const res = await api(second, 'POST', '/v1/referrals', { token: coordinator(), body: referralBody(ref) });
      assert.ok(res.status === 200 || res.status === 201, `${ref}: ${res.status}`);
      if (res.status === 201) created++; else repeated++;
    }
    assert.equal(Number(psql(db, 'SELECT count(*) FROM referrals')), attempted.length, 'one referral per external_ref');
    assert.equal(repeated, before);
    assert.equal(Number(psql(db, 'SELECT count(DISTINCT external_ref) FROM referrals')), attempted.length);
    assert.equal(Number(psql(db, "SELECT count(*) FROM referrals r WHERE (SELECT count(*) FROM audit_log a WHERE a.resource_id = r.id::text AND a.action = 'create') <> 1")), 0, 'each referral with exactly its one audit row');
    console.log(`sigkill: ${attempted.length} pushes attempted, ${before} committed before the kill, ${created} created by the retries, no duplicates`);
  } finally {
    await second.stop();
  }
});

test('slow and idle clients do not hold up others; memory stays bounded', { timeout: 60000 }, async () => {
  const server = await startServer({ db: freshDb('slow'), env: { HTTP_TIMEOUT_SECONDS: '20' } });
  const sockets = [];
  try {
    for (let i = 0; i < 300; i++) {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
    }
    // a client that sends its request one byte at a time
    const slow = net.connect(server.port, '127.0.0.1');
    slow.on('error', () => {});
    sockets.push(slow);
    const request = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'x'.repeat(40) + '\r\n\r\n';
    let sent = 0;
    const dribble = setInterval(() => { if (sent < request.length) slow.write(request[sent++]); }, 20);
    const times = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const res = await api(server, 'GET', '/v1/regions/gent', { token: coordinator() });
      times.push(performance.now() - t0);
      assert.equal(res.status, 200);
    }
    clearInterval(dribble);
    times.sort((a, b) => a - b);
    const p50 = times[100], p99 = times[197];
    assert.ok(p99 < (SANITIZED ? 500 : 250), `p99 ${p99.toFixed(1)} ms with 300 idle connections and a byte-by-byte client`);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]) / 1024;
    if (!SANITIZED) assert.ok(rss < 64, `server RSS ${rss.toFixed(1)} MB`);
    console.log(`slow clients: 300 idle + 1 byte-by-byte; others p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; server RSS ${rss.toFixed(1)} MB`);
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
  }
});
