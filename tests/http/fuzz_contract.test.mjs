// A contract-driven fuzzer: for every operation in openapi/openapi.yaml it
// sends valid requests (from a fixture per operation) and mutations of them —
// missing, mistyped, unknown and null members, extreme numbers, long and
// hostile strings, bodies that are not JSON or not UTF-8, duplicated, unknown
// and malformed query parameters, raw non-UTF-8 bytes in query values and
// headers, path ids that are not ids — over raw sockets, and asserts:
//   - no 5xx;
//   - the status is documented for the operation and a JSON body matches its
//     schema (contract.mjs);
//   - a request the contract refuses (its body, parameters or headers break
//     their schemas) is never answered 2xx;
//   - an Idempotency-Key is never dropped: a 2xx push replayed with its key is
//     the same referral again (200), never a new one.
// Seeded and bounded: G1P_FUZZ_SEED (printed; random otherwise) and
// G1P_FUZZ_SECONDS (default 15) or G1P_FUZZ_ITERATIONS. A failure prints the
// seed, the iteration and the request, and the same seed replays the same
// sequence of requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, freshDb, api, rawRequest } from './lib.mjs';
import { spec, schemaErrors } from './contract.mjs';

const SEED = process.env.G1P_FUZZ_SEED ? Number(process.env.G1P_FUZZ_SEED) : crypto.randomInt(2 ** 31);
const BUDGET_MS = Number(process.env.G1P_FUZZ_SECONDS || 15) * 1000;
const MAX_ITERATIONS = Number(process.env.G1P_FUZZ_ITERATIONS || 1e9);
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

// mulberry32: small, seedable, good enough to pick mutations.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let rand = prng(SEED);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const chance = (p) => rand() < p;
const uuid = () => {
  const h = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
};

const resolve = (o) => (o && o.$ref ? o.$ref.split('/').slice(1).reduce((x, k) => x[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec) : o);
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

// Every operation of the contract with what its requests may carry.
const OPERATIONS = [];
for (const [template, item] of Object.entries(spec.paths)) {
  for (const method of METHODS) {
    const op = item[method];
    if (!op) continue;
    const params = [...(item.parameters || []), ...(op.parameters || [])].map(resolve);
    const body = op.requestBody ? resolve(op.requestBody) : null;
    const contentType = body ? Object.keys(body.content)[0] : null;
    OPERATIONS.push({
      id: op.operationId, method: method.toUpperCase(), template, params,
      body: body && { required: !!body.required, contentTypes: Object.keys(body.content),
        ref: `openapi#/paths/${esc(template)}/${method}/requestBody/content/${esc(contentType)}/schema` },
    });
  }
}

const HOSTILE = ['', ' ', 'a'.repeat(5000), 'x'.repeat(70000), '\u0000', 'a\u0000b', 'a\u0085b', 'abc\u202ecba', '\u200b',
  '\ufeff', '\u2028', 'line\nbreak', 'tab\there', '\u001b[31m', '<script>alert(1)</script>', "'; DROP TABLE referrals; --",
  '%s%s%n', '${jndi:ldap://x}', '\ud83d\ude00', 'Gezin Ö.', '../../etc/passwd', '=cmd|"/c calc"!A1', '9'.repeat(40), '-1', '0',
  'null', 'true', '2025-02-30', '2025-13-01', '1899-12-31', '9999-12-31', 'ZZZZ', 'gent', '00000000-0000-0000-0000-000000000000'];
const NUMBERS = [0, -1, 1, 0.5, -0.0, 1e308, -1e308, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 2 ** 63, -(2 ** 63), 500, 501, 10000];
const RAW_QUERY_VALUES = ['%00', 'A%00B', '%ff', '%ff%fe', '\xff', '%', '%2', '%zz', '%C0%AF', '%ED%A0%80', '%205', '5%20', '+5',
  '-1', '0', '501', 'abc', '9'.repeat(30), '', '%E2%80%AE', '%0A', '%C2%85', 'a'.repeat(3000)];
const NOT_IDS = ['not-a-uuid', 'ZZZZ', '%00', '%ff', '..', '%2e%2e', '1', '-1', '0x10', 'a'.repeat(79), '00000000-0000-0000-0000-00000000000g',
  "1'%20OR%20'1'='1", '%20'];

let server, db, ctx;
const stats = { requests: 0, statuses: {}, refused: 0, findings: [] };

async function must(method, path, opts) {
  const res = await api(server, method, path, opts);
  assert.ok(res.status < 300, `fixture ${method} ${path}: ${res.status} ${res.text}`);
  return res.body;
}

const referralBody = () => ({ region: 'gent', referrer: { kind: 'organisation', organisation_id: ctx.org }, external_ref: `F-${uuid()}`,
  received_on: '2025-03-03', question: 'Vraag van het gezin', question_kind: 'consult', family: { label: 'Gezin F.', postcode: '9000', children: [{ birth_year: 2014 }] } });
async function contactedReferral() {
  const r = await must('POST', '/v1/referrals', { body: referralBody() });
  await must('POST', `/v1/referrals/${r.id}/first-contact`, { body: { held_on: '2025-03-10', mode: 'home' } });
  return r.id;
}
const planBody = () => ({ family_question: 'Rust in huis', strengths: ['Humor'], goals: [{ id: 'g1', title: 'School', status: 'open', target_date: '2025-06-30' }],
  actions: [{ id: 'a1', goal_id: 'g1', description: 'Ochtendritueel', owner: { kind: 'family', name: 'Mama' }, due_on: '2025-04-01', status: 'planned' }],
  participants: [{ role: 'parent', name: 'Mama' }], next_review_on: '2025-05-01' });

// One valid request per operation: {path params, query, headers, body}.
const FIXTURES = {
  getHealth: () => ({}),
  getReady: () => ({}),
  getOpenApi: () => ({}),
  getDocs: () => ({}),
  listRegions: () => ({ query: { limit: '3' } }),
  createRegion: () => ({ body: { code: `r-${uuid().slice(0, 8)}`, name: 'Regio Test', province: 'Antwerpen', annual_family_target: 200 } }),
  getRegion: () => ({ path: { code: 'gent' } }),
  updateRegion: () => ({ path: { code: ctx.region }, headers: { 'If-Match': '*' }, body: { name: 'Regio Gewijzigd' } }),
  listOrganisations: () => ({ query: { region: 'gent', sector: 'caw', limit: '10' } }),
  createOrganisation: () => ({ body: { name: 'Organisatie F', sector: 'cgg', regions: ['gent'], email: 'info@org.be' } }),
  getOrganisation: () => ({ path: { id: ctx.org } }),
  updateOrganisation: () => ({ path: { id: ctx.org }, headers: { 'If-Match': '*' }, body: { email: 'nieuw@org.be' } }),
  deleteOrganisation: async () => ({ path: { id: (await must('POST', '/v1/organisations', { body: { name: 'Weg', sector: 'other', regions: ['gent'] } })).id } }),
  listReferrals: () => ({ query: { region: 'gent', status: 'received', received_from: '2025-01-01', received_to: '2025-12-31', limit: '20' } }),
  createReferral: () => ({ headers: { 'Idempotency-Key': `fz-${uuid()}` }, body: { ...referralBody(), external_ref: undefined } }),
  createReferralsBatch: () => ({ headers: { 'Idempotency-Key': `fzb-${uuid()}` }, body: { items: [referralBody(), { ...referralBody(), external_ref: undefined }] } }),
  getReferral: () => ({ path: { id: ctx.referral } }),
  updateReferral: async () => ({ path: { id: (await must('POST', '/v1/referrals', { body: referralBody() })).id }, headers: { 'If-Match': '*' }, body: { status: 'withdrawn' } }),
  recordFirstContact: async () => ({ path: { id: (await must('POST', '/v1/referrals', { body: referralBody() })).id }, body: { held_on: '2025-03-05', mode: 'phone' } }),
  listDeadlinePauses: () => ({ path: { id: ctx.referral } }),
  createDeadlinePause: async () => ({ path: { id: (await must('POST', '/v1/referrals', { body: referralBody() })).id }, body: { from: '2025-03-04', to: '2025-03-06', reason: 'family_unreachable', note: 'Niet bereikbaar' } }),
  getDeadlinePause: () => ({ path: { id: ctx.referral, pause_id: ctx.pause } }),
  updateDeadlinePause: () => ({ path: { id: ctx.referral, pause_id: ctx.pause }, headers: { 'If-Match': '*' }, body: { note: 'Bijgewerkt' } }),
  listDeadlines: () => ({ query: { region: 'gent', state: 'overdue', due_before: '2026-01-01', due_after: '2024-01-01', as_of: '2025-06-01', limit: '10' } }),
  listFamilies: () => ({ query: { region: 'gent', coach: 'coach-f', coach_sub: 'coach-f', waiting: pick(['true', 'false']), limit: '10' } }),
  createFamily: () => ({ body: { region: 'gent', label: 'Gezin N.', coach: { sub: 'coach-f', name: 'Fien', organisation_id: ctx.org }, waiting_for: [
    { module: 'Thuisbegeleiding', sector: 'jeugdhulp', organisation_id: ctx.org, since: '2025-03-01', started_on: '2025-04-01', ended: 'started' },
    { module: 'Psychotherapie', sector: null, since: '2025-03-02', started_on: null, ended: null }] } }),
  getFamily: () => ({ path: { id: ctx.family } }),
  updateFamily: () => ({ path: { id: ctx.family }, headers: { 'If-Match': '*' }, body: { label: 'Gezin F2.' } }),
  listFamilyCoaches: () => ({ path: { id: ctx.family }, query: { limit: '5' } }),
  attachFamilyReferral: async () => ({ path: { id: ctx.family }, body: { referral_id: await contactedReferral() } }),
  getPlan: () => ({ path: { id: ctx.family } }),
  putPlan: () => ({ path: { id: ctx.family }, headers: { 'If-Match': '*' }, body: planBody() }),
  updatePlan: () => ({ path: { id: ctx.family }, headers: { 'If-Match': '*' }, contentType: 'application/merge-patch+json', body: { strengths: ['Humor', 'Oma'] } }),
  listPlanVersions: () => ({ path: { id: ctx.family }, query: { limit: '5' } }),
  getPlanVersion: () => ({ path: { id: ctx.family, n: '1' } }),
  agreeToPlan: async () => {
    const plan = await must('GET', `/v1/families/${ctx.family}/plan`);
    return { path: { id: ctx.family }, body: { version: plan.version } };
  },
  listPlanAudit: () => ({ path: { id: ctx.family }, query: { limit: '5' } }),
  listAudit: () => ({ query: { resource: 'referral', from: '2025-01-01', to: '2030-01-01', sub: 'admin-1', limit: '10' } }),
  getMetrics: () => ({ query: { from: '2025-01-01', to: '2025-12-31', region: 'gent', group_by: 'region,month', format: pick(['json', 'csv']) } }),
  listChanges: () => ({ query: { after: '0', limit: '20' } }),
  listFamilyStatements: () => ({ path: { id: ctx.family }, query: { limit: '5' } }),
  addFamilyStatement: () => ({ path: { id: ctx.family }, body: { text: 'Wij zien het anders.\nDank u.' } }),
  getFamilyStatement: () => ({ path: { id: ctx.family, statement_id: ctx.statement } }),
  exportFamily: () => ({ path: { id: ctx.family } }),
  eraseFamily: async () => ({ path: { id: (await must('POST', '/v1/families', { body: { region: 'gent', label: 'Weg' } })).id }, body: { reason: 'request', note: 'Vraag van het gezin' } }),
  exportReferral: () => ({ path: { id: ctx.referral } }),
  eraseReferral: async () => ({ path: { id: (await must('POST', '/v1/referrals', { body: referralBody() })).id }, body: { reason: 'retention' } }),
  listWebhooks: () => ({ query: { limit: '5' } }),
  createWebhook: () => ({ body: { url: 'http://127.0.0.1:9/hooks', events: ['referral.created', 'plan.agreed'], description: 'Fuzz' } }),
  getWebhook: () => ({ path: { id: ctx.webhook } }),
  updateWebhook: () => ({ path: { id: ctx.webhook }, headers: { 'If-Match': '*' }, body: { description: 'Bijgewerkt', enabled: true } }),
  deleteWebhook: async () => ({ path: { id: (await must('POST', '/v1/webhooks', { body: { url: 'http://127.0.0.1:9/x', events: ['*'] } })).id } }),
  rotateWebhookSecret: () => ({ path: { id: ctx.webhook } }),
  pingWebhook: () => ({ path: { id: ctx.webhook } }),
  listWebhookDeliveries: () => ({ path: { id: ctx.webhook }, query: { status: 'pending', limit: '5' } }),
  retryWebhookDelivery: () => ({ path: { id: ctx.webhook, delivery_id: ctx.delivery } }),
};

// ---- mutations: each takes a request and changes it; the contract decides
// afterwards whether the result is still a request it allows.
function members(value, prefix = []) {
  if (value === null || typeof value !== 'object') return [];
  const out = [];
  for (const [k, v] of Object.entries(value)) {
    const p = [...prefix, Array.isArray(value) ? Number(k) : k];
    out.push(p, ...members(v, p));
  }
  return out;
}
function setAt(obj, path, fn) {
  const parent = path.slice(0, -1).reduce((o, k) => o[k], obj);
  const key = path[path.length - 1];
  const next = fn(parent[key]);
  if (next === undefined) { if (Array.isArray(parent)) parent.splice(key, 1); else delete parent[key]; } else parent[key] = next;
}
const wrongType = (v) => (typeof v === 'string' ? pick([12, true, [], {}, [v]]) : typeof v === 'number' ? pick([String(v), true, [v], {}]) : Array.isArray(v) ? pick(['x', {}, 1]) : typeof v === 'object' && v ? pick([[], 'x', 1]) : 'x');

const BODY_MUTATIONS = {
  dropMember: (req) => { const ms = members(req.body); if (ms.length) setAt(req.body, pick(ms), () => undefined); },
  wrongType: (req) => { const ms = members(req.body); if (ms.length) setAt(req.body, pick(ms), wrongType); },
  unknownMember: (req) => { const objs = [[], ...members(req.body)].filter((p) => { const v = p.reduce((o, k) => o[k], req.body); return v && typeof v === 'object' && !Array.isArray(v); }); const p = pick(objs); const o = p.reduce((x, k) => x[k], req.body); o[pick(['extra', 'id', 'version', '__proto__x', 'créé'])] = 1; },
  hostileString: (req) => { const ms = members(req.body); if (ms.length) setAt(req.body, pick(ms), () => pick(HOSTILE)); },
  extremeNumber: (req) => { const ms = members(req.body); if (ms.length) setAt(req.body, pick(ms), () => pick(NUMBERS)); },
  nullMember: (req) => { const ms = members(req.body); if (ms.length) setAt(req.body, pick(ms), () => null); },
  notAnObject: (req) => { req.body = pick([[], 'text', 5, null, true, [req.body]]); },
  emptyBody: (req) => { req.body = undefined; req.rawBody = Buffer.alloc(0); },
  malformedJson: (req) => { req.rawBody = Buffer.from(pick(['{', '{"a":', '{"a":1,"a":2}', '{"a":1}x', "{'a':1}", '[1,]', '{"a":NaN}', '\ufeff{}', '{"a":"\\ud800"}'])); },
  notUtf8Body: (req) => { const t = JSON.stringify(req.body ?? {}); req.rawBody = Buffer.concat([Buffer.from(t.slice(0, -1)), Buffer.from(',"x":"\xe9\xff"}', 'latin1')]); },
  deepNesting: (req) => { req.rawBody = Buffer.from('['.repeat(5000) + ']'.repeat(5000)); },
  wrongContentType: (req) => { req.contentType = pick(['text/plain', 'application/xml', 'application/json; charset=latin1', 'multipart/form-data']); },
};
const QUERY_MUTATIONS = {
  duplicate: (req) => { const [k, v] = pick(req.query.length ? req.query : [['limit', '5']]); req.query.push([k, v]); },
  unknown: (req) => { req.query.push([pick(['foo', 'regoin', 'LIMIT', 'id[]', 'limit ', '%00']), '1']); },
  malformed: (req, op) => { const q = op.params.filter((p) => p.in === 'query'); if (!q.length) return QUERY_MUTATIONS.unknown(req); const name = pick(q).name; req.query = req.query.filter(([k]) => k !== name); req.query.push([name, pick(RAW_QUERY_VALUES), true]); },
  hostileValue: (req, op) => { const q = op.params.filter((p) => p.in === 'query'); if (!q.length) return; const name = pick(q).name; req.query = req.query.filter(([k]) => k !== name); req.query.push([name, pick(HOSTILE)]); },
  dropAll: (req) => { req.query = []; },
};
const HEADER_MUTATIONS = {
  rawByte: (req) => { req.headers[pick(['Idempotency-Key', 'If-Match', 'If-None-Match', 'Accept', 'Authorization'])] = Buffer.from([0x6b, 0xe9, 0xff, 0x31]); },
  badIfMatch: (req) => { req.headers['If-Match'] = pick(['"abc"', 'W/"1"', '"-1"', '" 1"', '"+1"', '', '"99999999999999999999"', '*, "1"']); },
  badIdempotencyKey: (req) => { req.headers['Idempotency-Key'] = pick(['', ' ', 'a b', 'k,k', 'x'.repeat(201), 'key-é']); },
};
const PATH_MUTATIONS = {
  notAnId: (req, op) => { const ps = op.params.filter((p) => p.in === 'path'); if (!ps.length) return; req.path[pick(ps).name] = pick(NOT_IDS); },
  unknownId: (req, op) => { const ps = op.params.filter((p) => p.in === 'path'); if (!ps.length) return; const p = pick(ps); req.path[p.name] = p.name === 'n' ? '99999' : p.name === 'code' ? 'nergens' : uuid(); },
};

// ---- what the contract says of a request: null when it allows it, else why not.
function decodeQuery(raw) {
  try { const v = decodeURIComponent(raw.replace(/\+/g, ' ')); return /\0/.test(v) ? null : v; } catch { return null; }
}
const TEXT_OK = /^[^\x00-\x1F\x7F-\x9F\u2028\u2029\u200B\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\uFFF9-\uFFFB\uFDD0-\uFDEF\uFFFE\uFFFF\u{E0001}]*$/u;
function contractRefuses(op, req) {
  for (const p of op.params) {
    if (p.in === 'path') {
      const v = decodeQuery(req.path[p.name]);
      if (v === null) return `path ${p.name} does not decode`;
      const err = paramErrors(p, v);
      if (err) return `path ${p.name}: ${err}`;
    }
  }
  const seen = new Set();
  for (const [k, v, raw] of req.query) {
    const name = decodeQuery(raw ? k : encodeURIComponent(k));
    if (seen.has(name)) return `query ${k} repeated`;
    seen.add(name);
    const p = op.params.find((x) => x.in === 'query' && x.name === name);
    if (!p) return `query ${k} not documented`;
    const value = raw ? decodeQuery(v) : v;
    if (value === null || !value.isWellFormed() || !TEXT_OK.test(value)) return `query ${k} is not text`;
    const err = paramErrors(p, value);
    if (err) return `query ${k}: ${err}`;
  }
  for (const p of op.params) if (p.in === 'query' && p.required && !seen.has(p.name)) return `query ${p.name} missing`;
  for (const [k, v] of Object.entries(req.headers)) {
    if (Buffer.isBuffer(v) && v.some((b) => b < 0x20 || b > 0x7e)) return `header ${k} not ASCII`;
    const p = op.params.find((x) => x.in === 'header' && x.name.toLowerCase() === k.toLowerCase());
    if (p && p.name !== 'X-Request-Id' && !Buffer.isBuffer(v)) { const err = paramErrors(p, v); if (err) return `header ${k}: ${err}`; }
  }
  if (op.body) {
    if (req.rawBody !== undefined) return 'raw body';
    if (req.body === undefined) return op.body.required ? 'body missing' : null;
    if (!op.body.contentTypes.includes(req.contentType || 'application/json')) return 'content type';
    let errs = schemaErrors(op.body.ref, req.body);
    if (errs && op.id === 'createReferralsBatch') {
      // Items are judged one by one (SPEC: valid items are stored even when
      // others fail): a bad item must come back as a 422 result, not refuse
      // the whole batch.
      const item = /^\/items\/(\d+)(\/|$)/;
      if (errs.every((e) => item.test(e.instancePath))) {
        req.badItems = new Set(errs.map((e) => Number(item.exec(e.instancePath)[1])));
        errs = null;
      }
    }
    if (errs) return `body: ${errs.map((e) => `${e.instancePath || '/'} ${e.message}`).join(', ')}`;
    if (JSON.stringify(req.body).length > 1e6) return 'body too large';
  } else if (req.rawBody !== undefined && req.rawBody.length) return 'body on an operation without one';
  return null;
}
// A parameter value (a string as sent) against its schema; integers are
// whole decimal numbers, as the contract says of every number in a query.
function paramErrors(p, value) {
  const schema = resolve(p.schema);
  const isInt = [schema, ...(schema.allOf || []).map(resolve)].some((s) => s.type === 'integer');
  if (isInt) {
    if (!/^[0-9]{1,18}$/.test(value)) return 'not a whole number';
    return schemaProbe(p, Number(value));
  }
  return schemaProbe(p, value);
}
function schemaProbe(p, value) {
  const errs = schemaErrors(p.schema.$ref ? `openapi${p.schema.$ref}` : p.__ref, value);
  return errs && errs.map((e) => `${e.instancePath || ''} ${e.message}`).join(', ');
}

before(async () => {
  db = freshDb('fuzz_contract');
  // Webhooks to a closed loopback port: subscriptions are accepted, nothing is delivered.
  server = await startServer({ db, env: { WEBHOOK_WORKERS: '0', WEBHOOK_ALLOW_HTTP: '1', WEBHOOK_ALLOW_PRIVATE_NETWORKS: '1' } });
  console.log(`# contract fuzz: seed ${SEED}, budget ${BUDGET_MS / 1000} s (replay: G1P_FUZZ_SEED=${SEED})`);
  // Pointers to inline parameter schemas, for schemaProbe.
  for (const [template, item] of Object.entries(spec.paths)) {
    (item.parameters || []).forEach((p, i) => { if (!p.$ref) p.__ref = `openapi#/paths/${esc(template)}/parameters/${i}/schema`; });
    for (const m of METHODS) (item[m]?.parameters || []).forEach((p, i) => { if (!p.$ref) p.__ref = `openapi#/paths/${esc(template)}/${m}/parameters/${i}/schema`; });
  }
  for (const [name, p] of Object.entries(spec.components.parameters)) p.__ref = `openapi#/components/parameters/${name}/schema`;
  ctx = {};
  ctx.org = (await must('POST', '/v1/organisations', { body: { name: 'CAW Fuzz', sector: 'caw', regions: ['gent'] } })).id;
  ctx.region = (await must('POST', '/v1/regions', { body: { code: 'fuzz-regio', name: 'Fuzz', province: 'Antwerpen' } })).code;
  ctx.referral = (await must('POST', '/v1/referrals', { body: referralBody() })).id;
  ctx.pause = (await must('POST', `/v1/referrals/${ctx.referral}/deadline-pauses`, { body: { from: '2025-03-04', reason: 'other' } })).id;
  ctx.family = (await must('POST', '/v1/families', { body: { region: 'gent', label: 'Gezin F.', coach: { sub: 'coach-f', name: 'Fien', organisation_id: ctx.org } } })).id;
  await must('PUT', `/v1/families/${ctx.family}/plan`, { headers: { 'if-none-match': '*' }, body: planBody() });
  ctx.statement = (await must('POST', `/v1/families/${ctx.family}/statements`, { body: { text: 'Ons verhaal' } })).id;
  ctx.webhook = (await must('POST', '/v1/webhooks', { body: { url: 'http://127.0.0.1:9/hooks', events: ['*'] } })).id;
  ctx.delivery = (await must('POST', `/v1/webhooks/${ctx.webhook}/ping`)).id;
});
after(async () => { await server?.stop(); });

test('every operation of the contract has a fuzz fixture, and every fixture an operation', () => {
  const ids = OPERATIONS.map((o) => o.id).sort();
  assert.deepEqual(ids.filter((id) => !FIXTURES[id]), [], 'operations without a fixture');
  assert.deepEqual(Object.keys(FIXTURES).filter((id) => !ids.includes(id)), [], 'fixtures of no operation');
});

function target(op, req) {
  let p = op.template.replace(/\{(\w+)\}/g, (_, name) => req.path[name]);
  if (req.query.length) p += '?' + req.query.map(([k, v, raw]) => (raw ? `${k}=${v}` : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  return Buffer.from(p, 'latin1');
}

async function send(op, req) {
  const headers = Object.entries(req.headers).filter(([, v]) => v !== undefined);
  const opts = { headers, unchecked: true };
  if (req.rawBody !== undefined) { opts.rawBody = req.rawBody; opts.contentType = req.contentType; } else if (req.body !== undefined) {
    opts.rawBody = Buffer.from(JSON.stringify(req.body), 'utf8'); opts.contentType = req.contentType;
  }
  if (req.rawBody !== undefined && !req.rawBody.length) delete opts.rawBody;
  return rawRequest(server, op.method, target(op, req), opts);
}

function describe(op, req) {
  const body = req.rawBody !== undefined ? `raw ${JSON.stringify(req.rawBody.toString('latin1').slice(0, 200))}` : JSON.stringify(req.body)?.slice(0, 300);
  const hdrs = Object.entries(req.headers).map(([k, v]) => `${k}: ${Buffer.isBuffer(v) ? v.toString('hex') : v}`).join('; ');
  return `${op.method} ${target(op, req).toString('latin1').slice(0, 300)} [${hdrs}] ${body ?? ''}`;
}

test('valid and mutated requests for every operation: no 5xx, documented answers, refused requests never 2xx, keys never dropped', async () => {
  const { checkResponse } = await import('./contract.mjs');
  const started = Date.now();
  const families = Object.keys({ body: 1, query: 1, header: 1, path: 1 });
  let i = 0;
  for (; i < MAX_ITERATIONS && Date.now() - started < BUDGET_MS; i++) {
    rand = prng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    const op = OPERATIONS[i % OPERATIONS.length]; // every operation in turn, so none starves
    const fixture = await FIXTURES[op.id]();
    const req = { path: { ...(fixture.path || {}) }, query: Object.entries(fixture.query || {}).map(([k, v]) => [k, v]),
      headers: { ...(fixture.headers || {}) }, body: fixture.body === undefined ? undefined : JSON.parse(JSON.stringify(fixture.body)), contentType: fixture.contentType };
    let mutation = 'valid';
    if (!chance(0.25)) {
      const family = pick(families);
      const table = { body: op.body ? BODY_MUTATIONS : QUERY_MUTATIONS, query: QUERY_MUTATIONS, header: HEADER_MUTATIONS, path: op.params.some((p) => p.in === 'path') ? PATH_MUTATIONS : QUERY_MUTATIONS }[family];
      mutation = pick(Object.keys(table));
      table[mutation](req, op);
    }
    const refused = contractRefuses(op, req);
    const res = await send(op, req);
    stats.requests++;
    stats.statuses[res.status] = (stats.statuses[res.status] || 0) + 1;
    if (refused) stats.refused++;
    const where = `seed ${SEED} iteration ${i} (${op.id}, ${mutation}): ${describe(op, req)}\n=> ${res.status} ${res.text.slice(0, 300)}`;
    const problems = [];
    if (res.status >= 500) problems.push('5xx');
    try { checkResponse(op.method, target(op, req).toString('latin1'), res); } catch (e) { problems.push(e.message.split('\n')[0]); }
    if (refused && res.status < 300) problems.push(`2xx for a request the contract refuses (${refused})`);
    for (const n of req.badItems || []) {
      const got = res.body?.results?.[n]?.status;
      if (res.status === 200 && got !== 422) problems.push(`batch item ${n} breaks ReferralCreate but its result is ${got}`);
    }
    // Idempotency: a push that carried a key and was taken is the same push again.
    if (!problems.length && res.status < 300 && req.headers['Idempotency-Key'] && op.method === 'POST' && op.template.startsWith('/v1/referrals') && !op.template.includes('{')) {
      const again = await send(op, req);
      const ids = (r) => (r.body.results ? r.body.results.map((x) => x.referral?.id ?? x.status) : [r.body.id]);
      if (again.status !== 200 || JSON.stringify(ids(again)) !== JSON.stringify(ids(res)) || (again.body.results && again.body.results.some((x) => x.status === 201)))
        problems.push(`Idempotency-Key dropped: the replay answered ${again.status} ${again.text.slice(0, 200)}`);
    }
    if (problems.length) {
      stats.findings.push(`${problems.join('; ')}\n  ${where}`);
      if (stats.findings.length >= 20) break;
    }
  }
  console.log(`# contract fuzz: ${i} iterations, ${stats.requests} requests over ${OPERATIONS.length} operations, ${stats.refused} refused by the contract; statuses ${JSON.stringify(stats.statuses)}`);
  assert.ok(i >= OPERATIONS.length, 'every operation was tried at least once');
  assert.deepEqual(stats.findings, [], `findings (replay with G1P_FUZZ_SEED=${SEED}):\n${stats.findings.join('\n')}`);
});
