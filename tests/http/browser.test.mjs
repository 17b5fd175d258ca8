// The coaches' web app as a real browser runs it: Debian's Chromium, driven
// by puppeteer-core, loads a page from an allowed origin (another port of
// 127.0.0.1 is another origin) and calls the API with fetch and a bearer
// token: lists regions, creates a referral and reads its Location, reads a
// plan and PATCHes it with the ETag it was given, and reads a 412 problem and
// its X-Request-Id. The same page from an origin not in CORS_ALLOWED_ORIGINS
// is blocked by the browser itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { startServer, freshDb, api, freePort, token } from './lib.mjs';

export const CHROMIUM = '/usr/bin/chromium';
// As root in a container Chromium needs --no-sandbox; the rest keeps it from
// reaching for Google's services on a machine without internet.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps'];

let server, browser, allowedPage, otherPage, profile, familyId;
const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>coach app</title></head><body>coach app</body></html>';

function pageServer(port) {
  const s = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); });
  return new Promise((resolve) => s.listen(port, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  const [appPort, otherPort] = [await freePort(), await freePort()];
  allowedPage = await pageServer(appPort);
  otherPage = await pageServer(otherPort);
  allowedPage.origin = `http://127.0.0.1:${appPort}`;
  otherPage.origin = `http://127.0.0.1:${otherPort}`;
  server = await startServer({ db: freshDb('browser'), env: { CORS_ALLOWED_ORIGINS: `https://coach.example.be,${allowedPage.origin}` } });
  const fam = await api(server, 'POST', '/v1/families', { body: { region: 'gent', label: 'Gezin B.' } });
  familyId = fam.body.id;
  await api(server, 'PUT', `/v1/families/${familyId}/plan`, { headers: { 'if-none-match': '*' }, body: { family_question: 'Rust in huis', strengths: ['Humor'] } });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-chromium-'));
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, `--user-data-dir=${profile}`] });
});

after(async () => {
  await browser?.close();
  allowedPage?.close();
  otherPage?.close();
  await server?.stop();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

// What the web app does, run inside the page.
async function coachAppFlow({ api: base, bearer, family }) {
  const auth = { authorization: `Bearer ${bearer}` };
  const out = {};
  const regions = await fetch(`${base}/v1/regions`, { headers: auth });
  out.regions = { status: regions.status, count: (await regions.json()).items.length, requestId: regions.headers.get('x-request-id') };
  const created = await fetch(`${base}/v1/referrals`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': 'browser-push-1' },
    body: JSON.stringify({ region: 'gent', referrer: { kind: 'self' }, question: 'Vraag uit de browser', question_kind: 'consult', family: { label: 'Gezin B.', postcode: '9000' } }),
  });
  out.created = { status: created.status, location: created.headers.get('location'), id: (await created.json()).id };
  const plan = await fetch(`${base}/v1/families/${family}/plan`, { headers: auth });
  const etag = plan.headers.get('etag');
  out.plan = { status: plan.status, etag, question: (await plan.json()).family_question };
  const again = await fetch(`${base}/v1/families/${family}/plan`, { headers: { ...auth, 'if-none-match': etag } });
  out.notModified = { status: again.status, etag: again.headers.get('etag') };
  const patched = await fetch(`${base}/v1/families/${family}/plan`, {
    method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json', 'if-match': etag },
    body: JSON.stringify({ strengths: ['Humor', 'Oma helpt'] }),
  });
  out.patched = { status: patched.status, etag: patched.headers.get('etag'), strengths: (await patched.json()).strengths };
  const stale = await fetch(`${base}/v1/families/${family}/plan`, {
    method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json', 'if-match': etag },
    body: JSON.stringify({ strengths: ['Verloren update'] }),
  });
  out.stale = { status: stale.status, type: stale.headers.get('content-type'), requestId: stale.headers.get('x-request-id'), problem: await stale.json() };
  const noToken = await fetch(`${base}/v1/regions`);
  out.noToken = { status: noToken.status, challenge: noToken.headers.get('www-authenticate') };
  return out;
}

test('a page from an allowed origin uses the API with fetch and a bearer token', async () => {
  const page = await browser.newPage();
  await page.goto(`${allowedPage.origin}/`);
  const out = await page.evaluate(coachAppFlow, { api: server.base, bearer: token({ sub: 'coach-browser' }), family: familyId });
  await page.close();
  assert.equal(out.regions.status, 200);
  assert.equal(out.regions.count, 6);
  assert.match(out.regions.requestId, /^[0-9a-f]{24}$/);
  assert.equal(out.created.status, 201);
  assert.equal(out.created.location, `/v1/referrals/${out.created.id}`);
  assert.equal(out.plan.status, 200);
  assert.equal(out.plan.etag, '"1"');
  assert.equal(out.plan.question, 'Rust in huis');
  assert.deepEqual(out.notModified, { status: 304, etag: '"1"' });
  assert.deepEqual(out.patched, { status: 200, etag: '"2"', strengths: ['Humor', 'Oma helpt'] });
  assert.equal(out.stale.status, 412);
  assert.match(out.stale.type, /^application\/problem\+json/);
  assert.equal(out.stale.problem.current_version, 2);
  assert.match(out.stale.requestId, /^[0-9a-f]{24}$/);
  assert.deepEqual(out.noToken, { status: 401, challenge: 'Bearer' });
  // The browser's writes reached the database.
  const plan = await api(server, 'GET', `/v1/families/${familyId}/plan`);
  assert.deepEqual(plan.body.strengths, ['Humor', 'Oma helpt']);
});

test('the same page from an origin that is not allowed is blocked by the browser', async () => {
  const page = await browser.newPage();
  const messages = [];
  page.on('console', (m) => messages.push(m.text()));
  await page.goto(`${otherPage.origin}/`);
  const out = await page.evaluate(async ({ base, bearer }) => {
    const results = [];
    for (const init of [{ headers: { authorization: `Bearer ${bearer}` } }, {}]) {
      try { const r = await fetch(`${base}/v1/regions`, init); results.push(`status ${r.status}`); } catch (e) { results.push(`${e.name}: ${e.message}`); }
    }
    return results;
  }, { base: server.base, bearer: token() });
  await page.close();
  assert.deepEqual(out, ['TypeError: Failed to fetch', 'TypeError: Failed to fetch']);
  assert.ok(messages.some((m) => /CORS/.test(m)), messages.join('\n'));
});
