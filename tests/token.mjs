// Prints a development token signed with $JWT_HS256_SECRET (HS256).
//   JWT_HS256_SECRET=... node tests/token.mjs '{"scope":"plans:read","regions":["gent"]}'
// Defaults: sub "dev", every scope, every region, valid one hour.
import crypto from 'node:crypto';

const secret = process.env.JWT_HS256_SECRET;
if (!secret) { console.error('set JWT_HS256_SECRET'); process.exit(2); }
const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const claims = {
  sub: 'dev', exp: Math.floor(Date.now() / 1000) + 3600, regions: ['*'],
  scope: 'referrals:read referrals:write plans:read plans:write metrics:read admin',
  ...JSON.parse(process.argv[2] || '{}'),
};
const input = `${b({ alg: 'HS256', typ: 'JWT' })}.${b(claims)}`;
console.log(`${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`);
