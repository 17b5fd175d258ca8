// The contract itself: openapi/openapi.yaml is valid OpenAPI 3.1 (Redocly
// lint, pinned in tests/package-lock.json) and documents every route the
// server registers (api/routes.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib.mjs';
import { spec } from './contract.mjs';

test('openapi.yaml passes redocly lint', () => {
  const cli = path.join(ROOT, 'tests/node_modules/@redocly/cli/bin/cli.js');
  const r = spawnSync(process.execPath, [cli, 'lint', '--format=stylish', '--config', path.join(ROOT, 'tests/redocly.yaml'), path.join(ROOT, 'openapi/openapi.yaml')], {
    encoding: 'utf8', timeout: 120000, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

const resolve = (p) => (p.$ref ? p.$ref.split('/').slice(1).reduce((o, k) => o[k], spec) : p);

test('every route in api/routes.c is documented, and nothing else; each reads exactly its documented query parameters', () => {
  const src = fs.readFileSync(path.join(ROOT, 'api/routes.c'), 'utf8');
  const table = [...src.matchAll(/\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", \w+, (NULL|"[^"]*")\}/g)]
    .map(([, m, p, q]) => ({ key: `${m} ${p.replace(/\/:(\w+)/g, '/{$1}')}`, query: q === 'NULL' ? [] : q.slice(1, -1).split(' ').sort() }));
  const routes = table.map((r) => r.key).sort();
  const documented = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const m of Object.keys(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(m)) continue;
      const key = `${m.toUpperCase()} ${p}`;
      documented.push(key);
      const query = [...(item.parameters || []), ...(item[m].parameters || [])].map(resolve)
        .filter((x) => x.in === 'query').map((x) => x.name).sort();
      const route = table.find((r) => r.key === key);
      if (route) assert.deepEqual(route.query, query, `query parameters of ${key}`);
    }
  }
  assert.ok(routes.length > 30);
  assert.deepEqual(documented.sort(), routes);
});
