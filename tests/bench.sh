#!/usr/bin/env bash
# Benchmark (not part of the test suite): wrk against the real server on
# loopback, token verified on every request, and pgbench -S on the same
# PostgreSQL in the same run as the reference for one database round trip.
# Bounded: each run lasts BENCH_SECONDS (default 10). Prints a Markdown table.
#   bash tests/bench.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
cd "$G1P_ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}

g1p_install_packages
g1p_build build

PGDIR=$(mktemp -d /tmp/g1p-bench-pg.XXXXXX)
SERVER=
SCALE_PIDS=()
cleanup() {
  [[ -n $SERVER ]] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  for p in "${SCALE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  g1p_pgbouncer_stop "$PGDIR/pgbouncer"
  g1p_pg_stop "$PGDIR"
  rm -rf "$PGDIR"
}
trap cleanup EXIT
g1p_pg_start "$PGDIR"
psql -X -q -d postgres -c 'CREATE DATABASE g1p' -c 'CREATE DATABASE pgbench'
pgbench -q -i -s 10 pgbench >/dev/null 2>&1

SECRET=bench-secret-that-is-long-enough-0123456789
PORT=$(g1p_free_port)
DATABASE_URL=$(g1p_db_url g1p) JWT_HS256_SECRET=$SECRET PORT=$PORT LOG_LEVEL=${BENCH_LOG_LEVEL:-info} \
  ./build/g1p-api >"$PGDIR/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

TOKEN=$(SECRET=$SECRET node -e '
  const c = require("crypto"); const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600, regions: ["*"],
    scope: "referrals:read referrals:write plans:read plans:write metrics:read admin"});
  console.log(i + "." + c.createHmac("sha256", process.env.SECRET).update(i).digest("base64url"));')
ORG=$(curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"Bench CAW","sector":"caw","regions":["gent","meetjesland"]}' "http://127.0.0.1:$PORT/v1/organisations" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')

# 200 families with a plan each, for the plan read and write runs.
BENCH_FAMILIES=$PGDIR/families.txt
export BENCH_FAMILIES
TOKEN=$TOKEN PORT=$PORT node -e '
  const h = { authorization: `Bearer ${process.env.TOKEN}`, "content-type": "application/json" };
  const base = `http://127.0.0.1:${process.env.PORT}/v1/families`;
  (async () => {
    const ids = [];
    for (let i = 0; i < 200; i++) {
      const f = await (await fetch(base, { method: "POST", headers: h, body: JSON.stringify({ region: "gent", label: `Gezin ${i}`,
        coach: { sub: "coach", name: "Coach" } }) })).json();
      const plan = { family_question: "Rust in huis", strengths: ["humor"], goals: [{ id: "g1", title: "Slapen", status: "open" }],
        actions: [{ id: "a1", goal_id: "g1", description: "Avondritueel", owner: { kind: "family", name: "Mama" }, status: "planned" }],
        participants: [{ role: "parent", name: "Mama" }] };
      await fetch(`${base}/${f.id}/plan`, { method: "PUT", headers: { ...h, "if-none-match": "*" }, body: JSON.stringify(plan) });
      ids.push(f.id);
    }
    console.log(ids.join("\n"));
  })();' > "$BENCH_FAMILIES"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
HZ=$(getconf CLK_TCK)

# run_wrk NAME PATH [wrk args]: one line of the table.
run_wrk() {
  local name=$1 path=$2 out before after
  shift 2
  before=$(cpu_ticks)
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $TOKEN" "$@" "http://127.0.0.1:$PORT$path")
  after=$(cpu_ticks)
  local rps p50 p99 reqs non2xx
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  local cpu_us=$(( (after - before) * 1000000 / HZ / (reqs > 0 ? reqs : 1) ))
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$(awk -v a="$rps" -v b="$PGBENCH_TPS" 'BEGIN {printf "%.0f%%", 100*a/b}')" "$p50" "$p99" "$cpu_us" "${non2xx:-0}"
}

# 100,000 referrals in one region over ten years (about 2% overdue), for the
# deadlines list at realistic size.
psql -X -q -d g1p -v n=100000 -v regions=1 -v years=10 -f tests/data/generate.sql
psql -X -q -d g1p -c 'VACUUM ANALYZE'   # not autovacuum in the middle of a run
REFERRAL=$(psql -X -At -d g1p -c "SELECT id FROM referrals WHERE region = 'gent' ORDER BY received_on DESC LIMIT 1")
[[ -n $REFERRAL ]] || { echo "no referral to read" >&2; exit 1; }

PGBENCH_TPS=$(pgbench -n -S -c16 -j2 -T"$SECONDS_PER_RUN" pgbench 2>/dev/null | awk '/^tps/ {printf "%d", $3}')
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s; pgbench -S -c16 -j2 -T$SECONDS_PER_RUN: $PGBENCH_TPS tps"
echo
echo "| Endpoint | req/s | of pgbench -S | p50 | p99 | server CPU µs/req | non-2xx |"
echo "|---|---|---|---|---|---|---|"
run_wrk 'GET /v1/regions/{code}' /v1/regions/gent
run_wrk 'GET /v1/organisations/{id}' "/v1/organisations/$ORG"
run_wrk 'GET /v1/referrals/{id}' "/v1/referrals/$REFERRAL"
run_wrk 'GET /v1/deadlines?state=overdue (100k referrals)' '/v1/deadlines?state=overdue&region=gent'
run_wrk 'POST /v1/referrals (new each time)' /v1/referrals -s tests/bench-post-referral.lua
BENCH_PLAN_MODE=get run_wrk 'GET /v1/families/{id}/plan' /v1/families -s tests/bench-plans.lua
BENCH_PLAN_MODE=patch run_wrk 'PATCH /v1/families/{id}/plan (If-Match)' /v1/families -s tests/bench-plans.lua
run_wrk 'GET /v1/changes?after=0&limit=100' '/v1/changes?after=0&limit=100'
echo
echo "Server RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER/status)"

# Start-up with the migrations already applied: from exec to the first
# answered /health, median of 5.
STARTS=()
for _ in 1 2 3 4 5; do
  P2=$(g1p_free_port)
  t0=$(date +%s%N)
  DATABASE_URL=$(g1p_db_url g1p) JWT_HS256_SECRET=$SECRET PORT=$P2 LOG_LEVEL=warning ./build/g1p-api >/dev/null 2>&1 &
  S2=$!
  until curl -fs "http://127.0.0.1:$P2/health" >/dev/null 2>&1; do sleep 0.005; done
  STARTS+=($(( ($(date +%s%N) - t0) / 1000000 )))
  kill -TERM $S2; wait $S2 || true
done
echo "Start-up (migrations applied), median of 5: $(printf '%s\n' "${STARTS[@]}" | sort -n | sed -n 3p) ms"

# Scale-out: two instances on two ports, both through PgBouncer in
# transaction mode (DB_PREPARED_STATEMENTS=off), loaded at the same time.
read -r BHOST BPORT < <(g1p_pgbouncer_start "$PGDIR/pgbouncer")
SCALE_PORTS=()
for _ in 1 2; do
  SP=$(g1p_free_port)
  DATABASE_URL="postgresql:///g1p?host=$BHOST&port=$BPORT&user=postgres" DB_PREPARED_STATEMENTS=off JWT_HS256_SECRET=$SECRET \
    PORT=$SP LOG_LEVEL=warning ./build/g1p-api >/dev/null 2>&1 &
  SCALE_PIDS+=($!)
  SCALE_PORTS+=("$SP")
done
for SP in "${SCALE_PORTS[@]}"; do until curl -fs "http://127.0.0.1:$SP/health" >/dev/null 2>&1; do sleep 0.05; done; done
scale_run() { # NAME PATH
  local outs=() i=0 total=0
  for SP in "${SCALE_PORTS[@]}"; do
    wrk -t1 -c$((CONNECTIONS / 2)) -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SP$2" > "$PGDIR/scale-$i.txt" &
    outs+=($!)
    i=$((i + 1))
  done
  wait "${outs[@]}"
  local line="| $1 |"
  for f in "$PGDIR"/scale-*.txt; do
    local r p99
    r=$(awk '/Requests\/sec/ {printf "%d", $2}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    total=$((total + r))
    line="$line $r (p99 $p99) |"
  done
  echo "$line $total |"
}
echo
echo "Scale-out: two instances behind PgBouncer (transaction mode), $((CONNECTIONS / 2)) connections each, at the same time"
echo
echo "| Endpoint | instance 1 req/s | instance 2 req/s | together |"
echo "|---|---|---|---|"
scale_run 'GET /v1/referrals/{id}' "/v1/referrals/$REFERRAL"
scale_run 'GET /v1/regions/{code}' /v1/regions/gent

# Metrics at the scale of all Flanders over ten years: 900,000 more
# referrals over 16 regions (1,000,000 in all) and the families they started,
# then the median of 9 timed calls per query (each a whole HTTP request,
# token verified). tests/bench_metrics.sh measures the same with the plans.
if [[ -z ${BENCH_SKIP_METRICS:-} ]]; then
  psql -X -q -d g1p -v n=900000 -v regions=16 -v years=10 -f tests/data/generate.sql
  # the families a third of the contacted referrals started, with their waits and coach changes
  psql -X -q -d g1p -v share=0.444 -f tests/data/generate_families.sql
  psql -X -q -d g1p -c 'VACUUM ANALYZE'
  TO=$(date -u +%F)
  FROM10=$(date -u -d "$TO - 10 years" +%F)
  median_ms() {
    for _ in $(seq 9); do curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"; done |
      sort -n | awk '{a[NR] = $1} END {printf "%.0f ms", a[5] * 1000}'
  }
  echo
  echo "| Metrics query (1,000,000 referrals, 16 regions, 10 years) | median of 9 |"
  echo "|---|---|"
  echo "| one year, group_by=region,month | $(median_ms "/v1/metrics?from=2025-01-01&to=2025-12-31&group_by=region,month") |"
  echo "| ten years, group_by=region,month | $(median_ms "/v1/metrics?from=$FROM10&to=$TO&group_by=region,month") |"
  echo "| ten years, one total row | $(median_ms "/v1/metrics?from=$FROM10&to=$TO") |"
  echo "| ten years, group_by=region,month, CSV | $(median_ms "/v1/metrics?from=$FROM10&to=$TO&group_by=region,month&format=csv") |"
fi
