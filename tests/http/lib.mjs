// Test harness for the HTTP suite: a fresh database per test file, the real
// g1p-api binary on a free loopback port, tokens signed like an identity
// provider would, and every response checked against openapi/openapi.yaml.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { checkResponse } from './contract.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.G1P_BIN || path.join(ROOT, 'build/g1p-api');
export const ADMIN_URL = process.env.G1P_PG_ADMIN_URL;
export const SECRET = 'test-secret-that-is-long-enough-0123456789';
export const SANITIZED = !!process.env.G1P_SANITIZED;

if (!ADMIN_URL) throw new Error('G1P_PG_ADMIN_URL is not set: run the suite through tests/run.sh');

// With G1P_VIA_PGBOUNCER="<socket dir> <port>" servers reach the suite's
// cluster through PgBouncer in transaction mode (tests/run.sh); psql checks
// still go straight to PostgreSQL.
const BOUNCER = process.env.G1P_VIA_PGBOUNCER ? process.env.G1P_VIA_PGBOUNCER.split(' ') : null;
export const VIA_PGBOUNCER = !!BOUNCER;
function serverDbUrl(url) {
  if (!BOUNCER || !url) return url;
  const shared = new URLSearchParams(ADMIN_URL.split('?')[1]).get('host');
  const [path, query] = url.split('?');
  const q = new URLSearchParams(query);
  if (q.get('host') !== shared) return url; // a test's own cluster
  q.set('host', BOUNCER[0]);
  q.set('port', BOUNCER[1]);
  return `${path}?${q.toString()}`;
}

export function dbUrl(name) {
  return ADMIN_URL.replace(/^postgresql:\/\/\/[^?]*/, `postgresql:///${name}`);
}

export function psql(url, sql) {
  return execFileSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

// A fresh, empty database named after the test file.
export function freshDb(label) {
  const name = `t_${label}_${process.pid}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  psql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  psql(ADMIN_URL, `CREATE DATABASE ${name}`);
  return dbUrl(name);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export function b64url(input) {
  return Buffer.from(input).toString('base64url');
}

// Signs claims; by default HS256 with the suite's secret, exp in 10 minutes,
// every scope and every region.
export function token(claims = {}, opts = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: 'tester', scope: 'referrals:read referrals:write plans:read plans:write metrics:read webhooks:manage privacy admin', regions: ['*'], exp: now + 600, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const header = { alg: opts.alg || 'HS256', typ: 'JWT', ...(opts.header || {}) };
  const head = b64url(JSON.stringify(header));
  const body = opts.rawPayload !== undefined ? b64url(opts.rawPayload) : b64url(JSON.stringify(payload));
  const input = `${head}.${body}`;
  let sig;
  if (header.alg === 'none') sig = '';
  else if (header.alg === 'HS256') sig = crypto.createHmac('sha256', opts.secret || SECRET).update(input).digest('base64url');
  else if (header.alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), opts.key).toString('base64url');
  else if (header.alg === 'ES256') sig = crypto.sign('sha256', Buffer.from(input), { key: opts.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${input}.${sig}`;
}

export const ADMIN = () => token({ sub: 'admin-1' });

// Starts the server; resolves once /health answers.
export async function startServer(opts = {}) {
  const port = opts.port || await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: serverDbUrl(opts.db),
    ...(BOUNCER ? { DB_PREPARED_STATEMENTS: 'off' } : {}),
    PORT: String(port),
    JWT_HS256_SECRET: SECRET,
    DB_POOL_SIZE: '4',
    LOG_LEVEL: 'warning',
    ...(opts.env || {}),
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const proc = spawn(opts.bin || BIN, opts.args || [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 50))]);
    if (early) throw new Error(`server exited early (${JSON.stringify(early)}):\n${output}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`server did not start:\n${output}`); }
  }
  return {
    base, port, proc, exited,
    output: () => output,
    // Stops with SIGTERM and checks a clean exit (a sanitizer report exits non-zero).
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const { code } = await exited;
      assert.equal(code, 0, `server exit code ${code}; output:\n${output}`);
      assert.doesNotMatch(output, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, output);
      return code;
    },
  };
}

// One HTTP call; the response is checked against the contract unless
// opts.unchecked. Returns {status, headers, body (parsed JSON or text)}.
export async function api(server, method, urlPath, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== null) headers.authorization ??= `Bearer ${opts.token || ADMIN()}`;
  if (opts.token === null) delete headers.authorization;
  let body;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(server.base + urlPath, { method, headers, body });
  const text = await res.text();
  const ct = res.headers.get('content-type') || '';
  let parsed = text;
  if (/json/.test(ct) && text.length) parsed = JSON.parse(text);
  const out = { status: res.status, headers: res.headers, body: parsed, text };
  if (!opts.unchecked) checkResponse(method, urlPath, out);
  return out;
}

export function assertProblem(res, status, fieldPointers) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.ok(res.body.type && res.body.title && res.body.detail, 'problem has type, title, detail');
  if (fieldPointers) {
    const fields = (res.body.errors || []).map((e) => e.field).sort();
    assert.deepEqual(fields, [...fieldPointers].sort(), `errors: ${JSON.stringify(res.body.errors)}`);
  }
}

// One request written byte for byte on a fresh socket, for what a client
// library would clean or refuse (raw non-UTF-8 bytes, encoded NULs, repeated
// headers, oversized heads). headers: [[name, string | Buffer]]; strings are
// written as Latin-1 so each character is one byte. The body is opts.body as
// JSON, or opts.rawBody (bytes) as opts.contentType. Returns the same shape as
// api() (headers with get()), checked against the contract unless unchecked.
export function rawRequest(server, method, target, opts = {}) {
  const parts = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n', 'latin1')];
  const headers = [...(opts.headers || [])];
  if (opts.token !== null) headers.push(['Authorization', `Bearer ${opts.token || ADMIN()}`]);
  let body = Buffer.alloc(0);
  if (opts.body !== undefined || opts.rawBody !== undefined) {
    body = opts.rawBody !== undefined ? Buffer.from(opts.rawBody) : Buffer.from(JSON.stringify(opts.body));
    headers.push(['Content-Type', opts.contentType || 'application/json'], ['Content-Length', String(body.length)]);
  }
  for (const [k, v] of headers) parts.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'), body);
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    const chunks = [];
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error(`no answer to ${method} ${String(target).slice(0, 80)}`)); });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1').split('\r\n');
      const status = Number(head[0].split(' ')[1]);
      const map = new Map();
      for (const line of head.slice(1)) { const i = line.indexOf(':'); map.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()); }
      let text = all.subarray(split + 4).toString('utf8');
      if (/chunked/i.test(map.get('transfer-encoding') || '')) text = dechunk(all.subarray(split + 4)).toString('utf8');
      const ct = map.get('content-type') || '';
      const out = { status, headers: { get: (n) => map.get(n.toLowerCase()) ?? null }, text, body: /json/.test(ct) && text ? JSON.parse(text) : text };
      if (!opts.unchecked) checkResponse(method, Buffer.isBuffer(target) ? target.toString('latin1') : target, out);
      resolve(out);
    });
    sock.write(Buffer.concat(parts));
  });
}

function dechunk(buf) {
  const out = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    const n = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
    if (!n) break;
    out.push(buf.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}
