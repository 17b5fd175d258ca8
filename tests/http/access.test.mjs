// The access matrix: every endpoint × {no token, wrong scope, other region,
// other organisation, regions ["*"], admin, the family's own token, another
// family's token}, generated from one table. It asserts the access decision:
// 401, 403, 404, or "allowed" (any other status: the business rules then
// answer 2xx, 409, 412 or 422, which other test files check).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freshDb, api, token } from './lib.mjs';

let server, ids;
const STAFF = 'referrals:read referrals:write plans:read plans:write';
before(async () => {
  server = await startServer({ db: freshDb('access') });
  const setup = token({ sub: 'setup', scope: `${STAFF} admin`, regions: ['*'] });
  const post = async (p, body, headers) => {
    const res = await api(server, 'POST', p, { token: setup, body, headers });
    assert.ok(res.status < 300, `${p}: ${res.text}`);
    return res.body;
  };
  const caw = await post('/v1/organisations', { name: 'CAW', sector: 'caw', regions: ['gent'] });
  const clb = await post('/v1/organisations', { name: 'CLB', sector: 'clb', regions: ['gent'] });
  const unrelated = await post('/v1/organisations', { name: 'Unrelated', sector: 'other', regions: ['gent'] });
  const ref = await post('/v1/referrals', { region: 'gent', referrer: { kind: 'self' }, received_on: '2025-01-06', question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } });
  await post(`/v1/referrals/${ref.id}/first-contact`, { held_on: '2025-01-10', mode: 'home' });
  const ref2 = await post('/v1/referrals', { region: 'gent', referrer: { kind: 'self' }, received_on: '2025-01-06', question: 'Q', question_kind: 'consult', family: { label: 'F', postcode: '9000' } });
  const pause = await post(`/v1/referrals/${ref2.id}/deadline-pauses`, { from: '2025-01-07', to: '2025-01-08', reason: 'other' });
  const fam = await post('/v1/families', { referral_id: ref.id, coach: { sub: 'c', name: 'C', organisation_id: caw.id } });
  await api(server, 'PUT', `/v1/families/${fam.id}/plan`, { token: setup, body: { family_question: 'Q', participants: [{ role: 'professional', name: 'P', organisation_id: clb.id }] }, headers: { 'if-none-match': '*' } });
  const other = await post('/v1/families', { region: 'gent', label: 'Other family' });
  const statement = await post(`/v1/families/${fam.id}/statements`, { text: 'Ons verhaal' });
  ids = { caw: caw.id, clb: clb.id, unrelated: unrelated.id, ref: ref.id, ref2: ref2.id, pause: pause.id, fam: fam.id, otherFam: other.id, statement: statement.id };
});
after(async () => { await server?.stop(); });

// cat: which rule of api/access.c applies; scoped: names one resource in
// region gent (made by no organisation; family coached by the CAW with the
// CLB in its plan), so other regions and unrelated organisations get 404.
const ENDPOINTS = () => [
  { m: 'GET', p: '/v1/regions', cat: 'ref-read' },
  { m: 'GET', p: '/v1/regions/gent', cat: 'ref-read', regionScoped: true },
  { m: 'POST', p: '/v1/regions', cat: 'ref-write', body: { code: 'gent', name: 'G', province: 'Limburg' } },
  { m: 'PATCH', p: '/v1/regions/gent', cat: 'ref-write', body: {} },
  { m: 'GET', p: '/v1/organisations', cat: 'ref-read' },
  { m: 'GET', p: `/v1/organisations/${ids.caw}`, cat: 'ref-read' },
  { m: 'POST', p: '/v1/organisations', cat: 'ref-write', body: { name: 'New', sector: 'other' } },
  { m: 'PATCH', p: `/v1/organisations/${ids.unrelated}`, cat: 'ref-write', body: {} },
  { m: 'DELETE', p: '/v1/organisations/00000000-0000-4000-8000-000000000000', cat: 'ref-write', notFoundWhenAllowed: true },
  { m: 'GET', p: '/v1/referrals', cat: 'referral-read' },
  { m: 'GET', p: `/v1/referrals/${ids.ref}`, cat: 'referral-read', scoped: true },
  { m: 'POST', p: '/v1/referrals', cat: 'referral-write', body: { region: 'gent' } },
  { m: 'POST', p: '/v1/referrals:batch', cat: 'referral-write', body: { items: [] } },
  { m: 'PATCH', p: `/v1/referrals/${ids.ref}`, cat: 'referral-write', scoped: true, body: {} },
  { m: 'POST', p: `/v1/referrals/${ids.ref}/first-contact`, cat: 'referral-write', scoped: true, body: { held_on: '2025-01-10', mode: 'home' } },
  { m: 'GET', p: `/v1/referrals/${ids.ref2}/deadline-pauses`, cat: 'referral-read', scoped: true },
  { m: 'POST', p: `/v1/referrals/${ids.ref2}/deadline-pauses`, cat: 'referral-write', scoped: true, body: { from: '2025-01-07', to: '2025-01-07', reason: 'other' } },
  { m: 'GET', p: `/v1/referrals/${ids.ref2}/deadline-pauses/${ids.pause}`, cat: 'referral-read', scoped: true },
  { m: 'PATCH', p: `/v1/referrals/${ids.ref2}/deadline-pauses/${ids.pause}`, cat: 'referral-write', scoped: true, body: {} },
  { m: 'GET', p: '/v1/deadlines', cat: 'referral-read' },
  { m: 'GET', p: '/v1/families', cat: 'family-read' },
  { m: 'POST', p: '/v1/families', cat: 'family-write', body: { region: 'gent', label: 'Access test family' } },
  { m: 'GET', p: `/v1/families/${ids.fam}`, cat: 'family-read', scoped: true },
  { m: 'PATCH', p: `/v1/families/${ids.fam}`, cat: 'family-write', scoped: true, body: {} },
  { m: 'POST', p: `/v1/families/${ids.fam}/referrals`, cat: 'family-write', scoped: true, body: { referral_id: ids.ref } },
  { m: 'GET', p: `/v1/families/${ids.fam}/coaches`, cat: 'family-read', scoped: true },
  { m: 'GET', p: `/v1/families/${ids.fam}/plan`, cat: 'plan-read', scoped: true },
  { m: 'PUT', p: `/v1/families/${ids.fam}/plan`, cat: 'family-write', scoped: true, body: { family_question: 'Q' }, headers: { 'if-match': '"999"' } },
  { m: 'PATCH', p: `/v1/families/${ids.fam}/plan`, cat: 'family-write', scoped: true, body: {}, headers: { 'if-match': '*' } },
  { m: 'GET', p: `/v1/families/${ids.fam}/plan/versions`, cat: 'plan-read', scoped: true },
  { m: 'GET', p: `/v1/families/${ids.fam}/plan/versions/1`, cat: 'plan-read', scoped: true },
  { m: 'POST', p: `/v1/families/${ids.fam}/plan/agreement`, cat: 'plan-agree', scoped: true, body: { version: 999 } },
  { m: 'GET', p: `/v1/families/${ids.fam}/plan/audit`, cat: 'plan-read', scoped: true },
  { m: 'GET', p: `/v1/families/${ids.fam}/statements`, cat: 'plan-read', scoped: true },
  { m: 'POST', p: `/v1/families/${ids.fam}/statements`, cat: 'plan-agree', scoped: true, body: { text: 'Ons verhaal' } },
  { m: 'GET', p: `/v1/families/${ids.fam}/statements/${ids.statement}`, cat: 'plan-read', scoped: true },
  { m: 'GET', p: `/v1/families/${ids.fam}/export`, cat: 'family-export' },
  { m: 'POST', p: `/v1/families/${ids.otherFam}/erasure`, cat: 'privacy', body: { reason: 'nope' } },
  { m: 'GET', p: `/v1/referrals/${ids.ref2}/export`, cat: 'privacy' },
  { m: 'POST', p: `/v1/referrals/${ids.ref2}/erasure`, cat: 'privacy', body: { reason: 'nope' } },
  { m: 'GET', p: '/v1/audit', cat: 'audit' },
  { m: 'GET', p: '/v1/metrics?from=2025-01-01&to=2025-12-31', cat: 'metrics' },
  { m: 'GET', p: '/v1/changes', cat: 'changes' },
  // Webhooks need webhooks:manage, which none of the callers below has (the
  // allowed side, and scoping by organisation and region: webhooks.test.mjs).
  { m: 'GET', p: '/v1/webhooks', cat: 'webhooks' },
  { m: 'POST', p: '/v1/webhooks', cat: 'webhooks', body: { url: 'https://example.com/h', events: ['*'] } },
  { m: 'GET', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001', cat: 'webhooks' },
  { m: 'PATCH', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001', cat: 'webhooks', body: {} },
  { m: 'DELETE', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001', cat: 'webhooks' },
  { m: 'POST', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001/secret', cat: 'webhooks' },
  { m: 'POST', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001/ping', cat: 'webhooks' },
  { m: 'GET', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001/deliveries', cat: 'webhooks' },
  { m: 'POST', p: '/v1/webhooks/00000000-0000-4000-8000-000000000001/deliveries/00000000-0000-4000-8000-000000000002/retry', cat: 'webhooks' },
];

const PRINCIPALS = () => ({
  'no token': null,
  'reporter (metrics:read only)': token({ sub: 'reporter', scope: 'metrics:read', regions: ['*'] }),
  'other region': token({ sub: 'meetjes', scope: STAFF, regions: ['meetjesland'] }),
  'other organisation': token({ sub: 'partner', scope: STAFF, regions: ['gent'], org: ids.unrelated }),
  'coach organisation': token({ sub: 'caw', scope: STAFF, regions: ['gent'], org: ids.caw }),
  'all regions': token({ sub: 'star', scope: STAFF, regions: ['*'] }),
  admin: token({ sub: 'admin', scope: 'admin', regions: ['*'] }),
  'own family': token({ sub: 'family', scope: 'plan:family', family: ids.fam }),
  'another family': token({ sub: 'family2', scope: 'plan:family', family: ids.otherFam }),
});

const STAFF_CATS = ['referral-read', 'referral-write', 'family-read', 'family-write', 'plan-read', 'plan-agree'];

function expected(who, ep) {
  if (who === 'no token') return 401;
  if (ep.cat === 'family-export') return who === 'own family' ? 'allowed' : who === 'another family' ? 404 : 403;
  if (ep.cat === 'privacy' || ep.cat === 'webhooks') return 403;
  if (who === 'own family' || who === 'another family') {
    if (ep.cat !== 'plan-read' && ep.cat !== 'plan-agree') return 403;
    return who === 'own family' ? 'allowed' : 404;
  }
  if (ep.cat === 'ref-read') return who === 'other region' && ep.regionScoped ? 404 : 'allowed';
  if (ep.cat === 'changes') return 'allowed';
  if (ep.cat === 'webhooks') return 403;
  // No caller below has scope privacy (its allowed side: privacy.test.mjs);
  // the family's own token may export its own family, no other.
  if (ep.cat === 'privacy') return who === 'no token' ? 401 : 403;
  if (ep.cat === 'family-export') return who === 'own family' ? 'allowed' : who === 'another family' ? 404 : 403;
  if (ep.cat === 'metrics') return who === 'reporter (metrics:read only)' ? 'allowed' : 403;
  if (ep.cat === 'ref-write' || ep.cat === 'audit') return who === 'admin' ? (ep.notFoundWhenAllowed ? 404 : 'allowed') : 403;
  if (STAFF_CATS.includes(ep.cat)) {
    if (who === 'reporter (metrics:read only)' || who === 'admin') return 403;
    if (!ep.scoped) return 'allowed';
    if (who === 'other region' || who === 'other organisation') return 404;
    // the coach's organisation sees the family and plan, not the referral it did not make
    if (who === 'coach organisation') return ep.cat.startsWith('referral') ? 404 : 'allowed';
    return 'allowed';
  }
  throw new Error(`no rule for ${who} on ${ep.cat}`);
}

test('every endpoint answers every kind of caller as the rule table says', async () => {
  const principals = PRINCIPALS();
  const failures = [];
  let cases = 0;
  for (const ep of ENDPOINTS()) {
    for (const [who, tok] of Object.entries(principals)) {
      const res = await api(server, ep.m, ep.p, { token: tok, body: ep.body, headers: ep.headers });
      const want = expected(who, ep);
      const got = [401, 403, 404].includes(res.status) ? res.status : 'allowed';
      cases++;
      if (got !== want || res.status >= 500) failures.push(`${ep.m} ${ep.p} as ${who}: want ${want}, got ${res.status} ${res.text.slice(0, 160)}`);
    }
  }
  assert.deepEqual(failures, []);
  assert.ok(cases >= 35 * 9, `${cases} cases`);
});

test('the table covers every route of the server', async () => {
  const { spec } = await import('./contract.mjs');
  const documented = [];
  for (const [p, ops] of Object.entries(spec.paths)) {
    if (!p.startsWith('/v1')) continue;
    for (const m of Object.keys(ops)) if (['get', 'post', 'put', 'patch', 'delete'].includes(m)) documented.push(`${m.toUpperCase()} ${p}`);
  }
  const norm = (p) => p.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '{}').replace(/\/(gent|1)(?=\/|$)/g, '/{}');
  const covered = new Set(ENDPOINTS().map((e) => `${e.m} ${norm(e.p.split('?')[0])}`));
  const missing = documented.filter((d) => !covered.has(d.replace(/\{[^}]+\}/g, '{}')));
  assert.deepEqual(missing, []);
});
