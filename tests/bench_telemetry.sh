#!/usr/bin/env bash
# Benchmark (not part of the test suite): the cost of the Prometheus
# counters on the request path. Two servers on one database, one with
# METRICS_PORT set (counting, and scraped every second as Prometheus would)
# and one without; wrk loads GET /v1/referrals/{id} on each in turn, ROUNDS
# times (default 5) of BENCH_SECONDS (default 8), so both see the same
# machine; prints each round and the medians.
#   bash tests/bench_telemetry.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
cd "$G1P_ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-5}
g1p_install_packages
g1p_build build
PGDIR=$(mktemp -d /tmp/g1p-bench-telemetry.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  g1p_pg_stop "$PGDIR"
  rm -rf "$PGDIR"
}
trap cleanup EXIT
g1p_pg_start "$PGDIR"
psql -X -q -d postgres -c 'CREATE DATABASE g1p'
SECRET=bench-secret-that-is-long-enough-0123456789
ON=$(g1p_free_port); OFF=$(g1p_free_port); MP=$(g1p_free_port)
DATABASE_URL=$(g1p_db_url g1p) JWT_HS256_SECRET=$SECRET PORT=$OFF LOG_LEVEL=warning WEBHOOK_WORKERS=0 ./build/g1p-api >"$PGDIR/off.log" 2>&1 &
PIDS+=($!)
sleep 1
DATABASE_URL=$(g1p_db_url g1p) JWT_HS256_SECRET=$SECRET PORT=$ON METRICS_PORT=$MP LOG_LEVEL=warning WEBHOOK_WORKERS=0 ./build/g1p-api >"$PGDIR/on.log" 2>&1 &
PIDS+=($!)
for p in $ON $OFF; do for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.1; done; done
psql -X -q -d g1p -v n=100000 -v regions=1 -v years=10 -f tests/data/generate.sql
REFERRAL=$(psql -X -At -d g1p -c "SELECT id FROM referrals ORDER BY received_on DESC LIMIT 1")
TOKEN=$(SECRET=$SECRET node -e '
  const c = require("crypto"); const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600, regions: ["*"], scope: "referrals:read"});
  console.log(i + "." + c.createHmac("sha256", process.env.SECRET).update(i).digest("base64url"));')
( while true; do curl -fs -o /dev/null "http://127.0.0.1:$MP/metrics" || true; sleep 1; done ) &
PIDS+=($!)
rps() { wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/v1/referrals/$REFERRAL" | awk '/Requests\/sec/ {printf "%d", $2}'; }
ONS=(); OFFS=()
echo "| round | metrics off req/s | metrics on req/s |"
echo "|---|---|---|"
for i in $(seq "$ROUNDS"); do
  a=$(rps "$OFF"); b=$(rps "$ON")
  OFFS+=("$a"); ONS+=("$b")
  echo "| $i | $a | $b |"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
MOFF=$(median "${OFFS[@]}"); MON=$(median "${ONS[@]}")
echo
echo "median: off $MOFF req/s, on $MON req/s: $(awk -v a="$MON" -v b="$MOFF" 'BEGIN {printf "%+.1f%%", 100 * (a - b) / b}')"
