// Checks real responses against openapi/openapi.yaml: the operation and the
// status must be documented, and a JSON body must match its schema (ajv,
// JSON Schema 2020-12 as used by OpenAPI 3.1).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../openapi/openapi.yaml');
export const spec = YAML.parse(fs.readFileSync(file, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');
const compiled = new Map();

const templates = Object.keys(spec.paths || {}).map((t) => ({
  template: t,
  re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  literal: !t.includes('{'),
}));

function findPath(urlPath) {
  const p = urlPath.split('?')[0];
  // Literal paths win over templated ones, as in routing.
  return templates.filter((t) => t.re.test(p)).sort((a, b) => b.literal - a.literal)[0];
}

const pointerEscape = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export function checkResponse(method, urlPath, res) {
  const found = findPath(urlPath);
  if (!found) {
    // Undocumented paths may only answer 404/405 (or 401 under /v1).
    if ([401, 404, 405].includes(res.status)) return;
    throw new Error(`contract: ${method} ${urlPath} is not in openapi.yaml (status ${res.status})`);
  }
  const op = spec.paths[found.template][method.toLowerCase()];
  if (!op) {
    if ([401, 405].includes(res.status)) return;
    throw new Error(`contract: ${method} ${found.template} is not documented (status ${res.status})`);
  }
  let responses = op.responses;
  let key = String(res.status);
  if (!responses[key]) key = 'default';
  if (!responses[key]) throw new Error(`contract: ${method} ${found.template} does not document status ${res.status}: ${res.text}`);
  let resp = responses[key];
  let base = `openapi#/paths/${pointerEscape(found.template)}/${method.toLowerCase()}/responses/${key}`;
  if (resp.$ref) {
    base = 'openapi' + resp.$ref;
    resp = resp.$ref.split('/').slice(1).reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  if (!resp.content) {
    if (res.text.length) throw new Error(`contract: ${method} ${found.template} ${res.status} documents no body but got one`);
    return;
  }
  const ct = (res.headers.get('content-type') || '').split(';')[0].trim();
  if (!resp.content[ct]) throw new Error(`contract: ${method} ${found.template} ${res.status}: content type ${ct} not documented`);
  if (!/json/.test(ct) || !resp.content[ct].schema) return;
  const ref = `${base}/content/${pointerEscape(ct)}/schema`;
  let validate = compiled.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    compiled.set(ref, validate);
  }
  if (!validate(res.body)) {
    throw new Error(`contract: ${method} ${urlPath} ${res.status} body does not match ${ref}: ${ajv.errorsText(validate.errors)}\nbody: ${res.text.slice(0, 2000)}`);
  }
}

// Validates value against the schema at ref (e.g. "openapi#/components/schemas/X");
// returns null when it matches, else ajv's errors (instancePath, message).
// Used by the contract fuzzer to tell which of its requests the contract
// refuses.
export function schemaErrors(ref, value) {
  let validate = compiled.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    compiled.set(ref, validate);
  }
  return validate(value) ? null : validate.errors;
}
