#!/usr/bin/env bash
# Data-protection benchmark (not part of the test suite): the export of one
# family with 50 plan versions (median and p95 of 200 calls over HTTP), and
# the retention command on BENCH_REFERRALS generated referrals (default
# 1,000,000 over 10 years, tests/data/generate.sql): a dry run, then an erasing
# run with RETENTION_UNFOLLOWED_YEARS chosen so that about 100,000 referrals
# are due, with its batch timings; the metrics are compared before and after.
#   bash tests/bench_privacy.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
cd "$G1P_ROOT"
N=${BENCH_REFERRALS:-1000000}
g1p_install_packages
g1p_build build

PGDIR=$(mktemp -d /tmp/g1p-bench-privacy.XXXXXX)
SERVER=
cleanup() {
  [[ -n $SERVER ]] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  g1p_pg_stop "$PGDIR"
  rm -rf "$PGDIR"
}
trap cleanup EXIT
g1p_pg_start "$PGDIR"
psql -X -q -d postgres -c 'CREATE DATABASE g1p'
URL=$(g1p_db_url g1p)
SECRET=bench-secret-that-is-long-enough-0123456789
PORT=$(g1p_free_port)
DATABASE_URL=$URL JWT_HS256_SECRET=$SECRET PORT=$PORT LOG_LEVEL=warning WEBHOOK_WORKERS=0 ./build/g1p-api >"$PGDIR/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

echo "## export of a family with 50 plan versions"
SECRET=$SECRET PORT=$PORT node --input-type=module -e '
  import crypto from "node:crypto";
  const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600, regions: ["*"],
    scope: "referrals:read referrals:write plans:read plans:write privacy"});
  const tok = i + "." + crypto.createHmac("sha256", process.env.SECRET).update(i).digest("base64url");
  const base = `http://127.0.0.1:${process.env.PORT}/v1`;
  const h = { authorization: `Bearer ${tok}`, "content-type": "application/json" };
  const call = async (m, p, body, extra = {}) => { const r = await fetch(base + p, { method: m, headers: { ...h, ...extra }, body: body && JSON.stringify(body) }); return { r, j: r.status === 204 ? null : await r.json() }; };
  const f = (await call("POST", "/families", { region: "gent", label: "Gezin Bench", coach: { sub: "c", name: "Coach" } })).j;
  let etag = (await call("PUT", `/families/${f.id}/plan`, { family_question: "Rust", strengths: ["humor"], goals: [{ id: "g1", title: "Slapen", status: "open" }],
    actions: [{ id: "a1", goal_id: "g1", description: "Avondritueel", owner: { kind: "family", name: "Mama" }, status: "planned" }],
    participants: [{ role: "parent", name: "Mama" }] }, { "if-none-match": "*" })).r.headers.get("etag");
  for (let v = 2; v <= 50; v++) etag = (await call("PATCH", `/families/${f.id}/plan`, { strengths: [`humor ${v}`] }, { "if-match": etag, "content-type": "application/merge-patch+json" })).r.headers.get("etag");
  for (let s = 0; s < 5; s++) await call("POST", `/families/${f.id}/statements`, { text: `Verklaring ${s}` });
  for (let k = 0; k < 20; k++) await call("GET", `/families/${f.id}/plan`);
  const times = [];
  for (let k = 0; k < 200; k++) { const t0 = performance.now(); const { r } = await call("GET", `/families/${f.id}/export`); await r; times.push(performance.now() - t0); }
  times.sort((a, b) => a - b);
  const bytes = JSON.stringify((await call("GET", `/families/${f.id}/export`)).j).length;
  console.log(`| export, 50 versions (${bytes} bytes) | median ${times[100].toFixed(1)} ms | p95 ${times[190].toFixed(1)} ms |`);'

echo "## retention on $N referrals"
t0=$(date +%s.%N)
psql -X -q -d "$URL" -v n="$N" -v regions=16 -v years=10 -f tests/data/generate.sql
echo "generated in $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
metrics() { curl -fs -H "Authorization: Bearer $1" "http://127.0.0.1:$PORT/v1/metrics?from=$(date -d "-10 years +1 day" +%F)&to=$(date +%F)&group_by=region,month"; }
MTOKEN=$(SECRET=$SECRET node -e '
  const c = require("crypto"); const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600, regions: ["*"], scope: "metrics:read"});
  console.log(i + "." + c.createHmac("sha256", process.env.SECRET).update(i).digest("base64url"));')
metrics "$MTOKEN" > "$PGDIR/before.json"
YEARS=${BENCH_UNFOLLOWED_YEARS:-8}
/usr/bin/time -f "dry run: %e s wall, %M KB" env DATABASE_URL="$URL" RETENTION_UNFOLLOWED_YEARS="$YEARS" LOG_LEVEL=warning ./build/g1p-api retention --dry-run
/usr/bin/time -f "erasing run: %e s wall, %M KB" env DATABASE_URL="$URL" RETENTION_UNFOLLOWED_YEARS="$YEARS" LOG_LEVEL=warning ./build/g1p-api retention
metrics "$MTOKEN" > "$PGDIR/after.json"
if cmp -s "$PGDIR/before.json" "$PGDIR/after.json"; then echo "metrics: identical before and after"; else echo "metrics: DIFFERENT"; exit 1; fi
