// GET /docs: the HTML reference of the API (openapi/docs.html, made from the
// contract by openapi/build-docs.sh and compiled into the binary). The page is
// current with openapi/openapi.yaml, is served byte for byte under a
// Content-Security-Policy that allows only the page itself, and in headless
// Chromium shows every tag and every operation of the contract without a
// request to any other host and without a console or page error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freshDb, api, ROOT } from './lib.mjs';
import { spec } from './contract.mjs';
import { launchChromium } from './chromium.mjs';

const PAGE = path.join(ROOT, 'openapi/docs.html');
const ARTIFACTS = process.env.G1P_ARTIFACT_DIR || path.join(ROOT, 'build/artifacts');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let server;
before(async () => { server = await startServer({ db: freshDb('docs') }); });
after(async () => { await server?.stop(); });

test('openapi/docs.html is what openapi/build-docs.sh makes of the contract', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g1p-docs-'));
  try {
    const fresh = path.join(dir, 'docs.html');
    const r = spawnSync('bash', [path.join(ROOT, 'openapi/build-docs.sh'), fresh], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, `openapi/build-docs.sh failed:\n${r.stdout}${r.stderr}`);
    assert.ok(fs.readFileSync(fresh).equals(fs.readFileSync(PAGE)),
      'openapi/docs.html is stale (or was edited by hand): run openapi/build-docs.sh and commit openapi/docs.html');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Every source of every directive, e.g. {"img-src": ["data:"]}.
function parseCsp(header) {
  const out = {};
  for (const part of header.split(';').map((s) => s.trim()).filter(Boolean)) {
    const [name, ...sources] = part.split(/\s+/);
    out[name.toLowerCase()] = sources;
  }
  return out;
}

// What in the page's own bytes would make a browser fetch from another host
// (an absolute http(s) URL or a protocol-relative //host one), as
// "<rule>: <excerpt>" strings. Links a reader may follow (<a href>) and URLs
// that are only text (the contract's descriptions, comments and strings in
// Redoc's script, xmlns names) are not fetches and pass. The markup is read
// with the script bodies cut out; the scripts are read for what loads by
// itself: an import of a URL, a literal src, a CSS url() or @import. URLs the
// script builds at run time are for the Chromium test below to catch.
function offsiteLoads(html) {
  const offsite = String.raw`(?:https?:)?//`;
  const found = [];
  const excerpt = (s) => s.replace(/\s+/g, ' ').slice(0, 160);
  const scripts = [];
  const markup = html.replace(/(<script\b[^>]*>)([\s\S]*?)(<\/script\s*>)/gi, (_, open, body, close) => {
    scripts.push(body);
    return open + close;
  });
  // Attributes that fetch on their own, on any element; href fetches on
  // these elements only (<link> of any rel, <base> moves every relative URL,
  // SVG <use>, <image>, <feImage> and <script>).
  const fetching = new Set(['src', 'srcset', 'poster', 'data', 'background', 'xlink:href', 'imagesrcset']);
  const hrefFetches = new Set(['link', 'base', 'use', 'image', 'feimage', 'script']);
  for (const [tag, name, attrs] of markup.matchAll(/<([a-zA-Z][\w:-]*)(\s[^>]*)?>/g)) {
    for (const [, attr, , dq, sq, bare] of (attrs || '').matchAll(/([^\s"'=<>/]+)\s*(=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
      const a = attr.toLowerCase();
      const value = dq ?? sq ?? bare ?? '';
      const loads = fetching.has(a) || (a === 'href' && hrefFetches.has(name.toLowerCase()));
      if (loads && new RegExp(`(^|[\\s,])${offsite}`, 'i').test(value.trim())) found.push(`${a} on <${name}>: ${excerpt(tag)}`);
      if (a === 'http-equiv' && /refresh/i.test(value) && new RegExp(`url\\s*=\\s*['"]?${offsite}`, 'i').test(tag)) found.push(`meta refresh: ${excerpt(tag)}`);
    }
  }
  const css = [new RegExp(`url\\(\\s*['"\`]?\\s*${offsite}`, 'gi'), new RegExp(`@import\\s+(?:url\\(\\s*)?['"\`]?\\s*${offsite}`, 'gi')];
  for (const re of css) for (const m of markup.matchAll(re)) found.push(`CSS in the markup: ${excerpt(markup.slice(m.index, m.index + 120))}`);
  const inScript = [
    ...css,
    new RegExp(String.raw`\bimport\s*(?:\(\s*|[\w*{}\s,$]*?\bfrom\s*)['"\`]${offsite}`, 'g'),
    // src: "https://…", src="https://…", src: cond ? `https://…` : …
    new RegExp(String.raw`\bsrc(?:set)?\s*[:=][^,;{}()\n]{0,40}?\\?['"\`]${offsite}`, 'gi'),
  ];
  for (const body of scripts) {
    for (const re of inScript) for (const m of body.matchAll(re)) found.push(`script: ${excerpt(body.slice(Math.max(0, m.index - 40), m.index + 120))}`);
  }
  return found;
}

test('GET /docs serves the page as built, without a token, under a policy that allows only the page itself', async () => {
  const res = await api(server, 'GET', '/docs', { token: null });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const csp = parseCsp(res.headers.get('content-security-policy') || '');
  assert.deepEqual(csp['default-src'], ["'none'"], 'everything not named below is refused');
  // No directive names a host, a scheme that reaches one, or '*': the page
  // may run its inline script and styles and use data: images and fonts.
  for (const [name, sources] of Object.entries(csp)) {
    for (const s of sources) assert.ok(["'none'", "'self'", "'unsafe-inline'", 'data:', 'blob:'].includes(s), `${name} allows ${s}`);
  }
  for (const d of ['frame-ancestors', 'base-uri', 'form-action']) assert.deepEqual(csp[d], ["'none'"], d);

  // Byte for byte: fetch again for the raw body (api() gives decoded text).
  const raw = Buffer.from(await (await fetch(`${server.base}/docs`)).arrayBuffer());
  const page = fs.readFileSync(PAGE);
  assert.ok(raw.equals(page), `GET /docs is not openapi/docs.html (${raw.length} vs ${page.length} bytes): rebuild the server`);

  assert.deepEqual(offsiteLoads(page.toString('utf8')), [], 'the page loads something from another host');
  // The page's Redoc would otherwise report to Redocly's collector
  // (https://otel.cloud.redocly.com) from the reader's browser.
  assert.match(page.toString('utf8'), /"disableTelemetry":true/);
});

// Run in the page (puppeteer sends their source; the page's policy forbids
// eval, so no code is built there). Clicks the sidebar link of a tag; returns
// its section id ("/regions").
function openTag(name) {
  const a = [...document.querySelectorAll('[data-component-name="Menu/MenuItem"] > a')].find((x) => x.textContent.trim() === name);
  a.click();
  return a.getAttribute('href');
}

// What is not there yet of a tag: its section headed by its name, and per
// operation a section and a sidebar entry with its summary and method.
function tagMissing(name, section, want) {
  const out = [];
  if (document.querySelector(`[data-section-id="${section}"] h2`)?.textContent.trim() !== name) out.push(`heading ${name}`);
  for (const { id, title, method } of want) {
    if (!document.querySelector(`[data-section-id="${id}"]`)) out.push(`section ${id}`);
    const item = document.querySelector(`[data-component-name="Menu/MenuItem"] > a[href="#${id}"]`);
    if (item?.querySelector('[data-text]')?.textContent.trim() !== title || item?.querySelector('.tag-http')?.textContent.trim() !== method) {
      out.push(`sidebar entry "${title}" (${method}) for ${id}`);
    }
  }
  return out;
}

// Whether an operation's content is drawn (headed by its summary); if not,
// scrolls it into view again (Redoc may still be scrolling to the tag).
function drawnOrScroll({ id, title }) {
  const s = document.querySelector(`[data-section-id="${id}"]`);
  if (s.querySelector('h2')?.textContent.trim() === title) return true;
  s.scrollIntoView();
  return false;
}

// Calls check until it returns an empty list or 10 s have passed; returns the
// last list.
async function poll(check) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const left = await check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('headless Chromium renders every tag and operation of the contract, asks no other host for anything, logs no error', async () => {
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      assert.ok(item[m].operationId && item[m].tags?.length, `${m.toUpperCase()} ${p} needs an operationId and a tag`);
      ops.push({ id: item[m].operationId, tag: item[m].tags[0], title: item[m].summary || item[m].operationId, method: m });
    }
  }
  const tags = spec.tags.map((t) => t.name);
  for (const op of ops) assert.ok(tags.includes(op.tag), `${op.id}: tag ${op.tag} is not in the contract's tags`);

  const { browser, close } = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const host = new URL(server.base).host;
    const offsite = [];
    const fromServer = [];
    const errors = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (['data:', 'blob:'].includes(url.protocol)) return req.continue();
      if (url.host !== host) {
        offsite.push(req.url());
        return req.abort();
      }
      fromServer.push(url.pathname);
      return req.continue();
    });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'assert') errors.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));

    const loaded = await page.goto(`${server.base}/docs`, { waitUntil: 'load' });
    assert.equal(loaded.status(), 200);
    // The markup comes prerendered; Redoc's script has taken it over once the
    // logo of its sidebar credit is drawn (added after mounting), which
    // build-docs.sh made an inline image instead of one from Redocly's CDN.
    // Until then a click on a sidebar link would leave the page.
    const logo = await page.waitForSelector('img[alt="redocly logo"]', { timeout: 10000 });
    assert.match(await logo.evaluate((img) => img.getAttribute('src')), /^data:image\/svg\+xml,/);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'docs.png');
    await page.screenshot({ path: shot, fullPage: true });

    // The sidebar names every tag. Redoc builds a tag's part of the page when
    // the reader opens it, so open each one as a reader would, by its sidebar
    // link (that this works shows Redoc's script runs), and wait for: the
    // tag's section headed by its name; a section per operation, whose id is
    // the tag's followed by the operationId in lower case; the operation in
    // the sidebar under its summary and method. Redoc then draws each
    // operation's content as it scrolls into view, about 0.15 s apiece, so the
    // content is checked for the first operation of each tag (its heading is
    // the summary) rather than for all of them.
    const sidebar = await page.$$eval('[data-component-name="Menu/MenuItem"] > a', (as) => as.map((a) => a.textContent.trim()));
    for (const tag of tags) assert.ok(sidebar.includes(tag), `tag ${tag} is not in the sidebar: ${sidebar.join(', ')}`);
    for (const tag of tags) {
      const section = await page.evaluate(openTag, tag);
      const want = ops.filter((o) => o.tag === tag).map((o) => ({ id: `${section}/${o.id.toLowerCase()}`, title: o.title, method: o.method }));
      const missing = await poll(() => page.evaluate(tagMissing, tag, section, want));
      assert.deepEqual(missing, [], `tag ${tag} (${section}): not rendered, or these of its operations are missing`);
      if (want.length === 0) continue;
      const drawn = await poll(async () => (await page.evaluate(drawnOrScroll, want[0]) ? [] : [want[0].id]));
      assert.deepEqual(drawn, [], `the first operation of ${tag} was never drawn with "${want[0].title}" as its heading`);
    }

    assert.deepEqual(offsite, [], 'requests to other hosts (aborted)');
    assert.deepEqual(fromServer, ['/docs'], 'the page asked its server for nothing but itself');
    assert.deepEqual(errors, []);

    const png = fs.readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.readUInt32BE(16) === 1280 && png.readUInt32BE(20) > 900, `a full-page screenshot (${png.readUInt32BE(16)}x${png.readUInt32BE(20)})`);
    assert.ok(png.length > 30000, `${shot} is ${png.length} bytes: a blank page?`);
  } finally {
    await close();
  }
});
