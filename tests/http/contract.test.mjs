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

test('every route in api/routes.c is documented, and nothing else', () => {
  const src = fs.readFileSync(path.join(ROOT, 'api/routes.c'), 'utf8');
  const routes = [...src.matchAll(/\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", \w+\}/g)]
    .map(([, m, p]) => `${m} ${p.replace(/\/:(\w+)/g, '/{$1}')}`).sort();
  const documented = [];
  for (const [p, ops] of Object.entries(spec.paths)) {
    for (const m of Object.keys(ops)) if (['get', 'post', 'put', 'patch', 'delete'].includes(m)) documented.push(`${m.toUpperCase()} ${p}`);
  }
  assert.ok(routes.length > 5);
  assert.deepEqual(documented.sort(), routes);
});
