// A webhook receiver on loopback for the webhook tests: records every
// request (path, headers, raw body) and answers as told (mode: ok, a status
// code, 429 with Retry-After, hang, big), optionally after a delay; it can be
// closed (connections refused) and opened again on the same port.
import http from 'node:http';

export const WEBHOOK_ENV = { WEBHOOK_ALLOW_HTTP: '1', WEBHOOK_ALLOW_PRIVATE_NETWORKS: '1', WEBHOOK_TIMEOUT_SECONDS: '2', WEBHOOK_LEASE_SECONDS: '4' };

// A receiver that records every request and answers as told.
export function receiver() {
  const rec = { requests: [], mode: 'ok', delayMs: 0, sockets: new Set() };
  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      rec.requests.push({ path: req.url, headers: req.headers, body, mode: rec.mode, at: Date.now() });
      const answer = () => {
        if (rec.mode === 'hang') return; // never answers: the sender's timeout ends it
        if (rec.mode === 'ok') { res.writeHead(204); return res.end(); }
        if (rec.mode === '429') { res.writeHead(429, { 'retry-after': '120' }); return res.end(); }
        if (rec.mode === 'big') { res.writeHead(200, { 'content-type': 'text/plain' }); return res.end('x'.repeat(64 * 1024)); }
        res.writeHead(Number(rec.mode));
        res.end('receiver says no '.repeat(200)); // longer than the 1 KB the sender reads
      };
      if (rec.delayMs) setTimeout(answer, rec.delayMs); else answer();
    });
  };
  const listen = (port) => new Promise((resolve, reject) => {
    const srv = http.createServer(handler);
    srv.on('connection', (s) => { rec.sockets.add(s); s.on('close', () => rec.sockets.delete(s)); });
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => { rec.srv = srv; resolve(srv.address().port); });
  });
  rec.close = () => new Promise((r) => { for (const s of rec.sockets) s.destroy(); rec.srv.close(() => r()); });
  rec.reopen = () => listen(rec.port);
  return listen(0).then((port) => {
    rec.port = port;
    rec.url = `http://127.0.0.1:${port}/hooks`;
    return rec;
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function until(cond, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

