// Prometheus metrics on their own listener: counters by route template (never
// a raw path or id: 10,000 distinct ids make no new series), an exposition
// that promtool accepts under load, and a real Prometheus (Debian's) that
// scrapes the server and answers a PromQL query for the request rate of
// GET /v1/referrals/{id}.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, freePort, token } from './lib.mjs';

let server, metricsPort, referralId;
before(async () => {
  metricsPort = await freePort();
  server = await startServer({ db: freshDb('prometheus'), env: { METRICS_PORT: String(metricsPort) } });
  referralId = (await api(server, 'POST', '/v1/referrals', { body: { region: 'gent', referrer: { kind: 'self' }, question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } } })).body.id;
});
after(async () => { await server?.stop(); });

const scrape = async () => {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return res.text();
};
const value = (text, series) => Number((text.split('\n').find((l) => l.startsWith(series + ' ')) || ' 0').split(' ').pop());

async function load(n, concurrency, pathOf) {
  const tok = token();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(server.base + pathOf(i), { headers: { authorization: `Bearer ${tok}` } });
      await res.arrayBuffer();
    }
  }));
}

test('requests are counted by route template, method and status; 10,000 distinct ids add no series', async () => {
  const series = (text) => text.split('\n').filter((l) => l.startsWith('g1p_http_requests_total{'));
  const before = await scrape();
  await load(10000, 16, () => `/v1/referrals/${crypto.randomUUID()}`);
  await load(20, 4, () => `/v1/referrals/${referralId}`);
  await fetch(`${server.base}/v1/regions`); // 401
  await fetch(`${server.base}/v1/nothing/${crypto.randomUUID()}`, { headers: { authorization: `Bearer ${token()}` } });
  const text = await scrape();
  assert.equal(value(text, 'g1p_http_requests_total{route="/v1/referrals/{id}",method="GET",status="404"}') -
    value(before, 'g1p_http_requests_total{route="/v1/referrals/{id}",method="GET",status="404"}'), 10000);
  assert.ok(value(text, 'g1p_http_requests_total{route="/v1/referrals/{id}",method="GET",status="200"}') >= 20);
  assert.ok(value(text, 'g1p_http_requests_total{route="/v1/regions",method="GET",status="401"}') >= 1);
  assert.ok(value(text, 'g1p_http_requests_total{route="unmatched",method="GET",status="404"}') >= 1);
  assert.ok(value(text, 'g1p_auth_failures_total{reason="missing"}') >= 1);
  assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-/, 'no id in any label');
  assert.ok(series(text).length < 40, `${series(text).length} series`);
  assert.match(text, /g1p_db_pool_connections\{state="idle"\} \d+/);
  assert.match(text, /g1p_webhook_queue_depth\{state="due"\} \d+/);
  assert.match(text, /g1p_build_info\{version="[^"]+"\} 1/);
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status, 404);
});

test('promtool accepts a scrape taken under load', async () => {
  let text;
  await Promise.all([load(2000, 8, (i) => (i % 2 ? `/v1/referrals/${referralId}` : '/v1/regions')), (async () => { await new Promise((r) => setTimeout(r, 50)); text = await scrape(); })()]);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('a real Prometheus scrapes the server and answers the request rate of GET /v1/referrals/{id}', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-prometheus-'));
  const promPort = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: g1p-api\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
  const prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  prom.stderr.on('data', (d) => { log += d; });
  const query = async (q) => (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)).json()).data.result;
  try {
    const deadline = Date.now() + 20000;
    let rate = [];
    while (Date.now() < deadline) {
      await load(50, 4, () => `/v1/referrals/${referralId}`);
      try { rate = await query('sum(rate(g1p_http_requests_total{route="/v1/referrals/{id}",method="GET"}[5s]))'); } catch { rate = []; }
      if (rate.length && Number(rate[0].value[1]) > 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(rate.length && Number(rate[0].value[1]) > 0, `no rate from Prometheus: ${JSON.stringify(rate)}\n${log}`);
    const up = await query('up{job="g1p-api"}');
    assert.equal(up[0].value[1], '1');
    console.log(`# Prometheus: ${Number(rate[0].value[1]).toFixed(1)} req/s of GET /v1/referrals/{id}`);
  } finally {
    prom.kill('SIGTERM');
    await new Promise((r) => prom.on('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
