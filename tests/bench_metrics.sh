#!/usr/bin/env bash
# Metrics benchmark (not part of the test suite): GET /v1/metrics at the scale
# of all Flanders over ten years. BENCH_REFERRALS generated referrals
# (default 1,000,000 over 16 regions and ten years, tests/data/generate.sql)
# and the families a third of the contacted ones started, with their waiting
# periods and coach changes (tests/data/generate_families.sql). Prints the
# median of BENCH_RUNS (default 9) whole HTTP requests per query, each with
# its token verified, and the plans of the one-year and ten-year
# group_by=region,month queries as the server ran them: auto_explain logs
# EXPLAIN (ANALYZE, BUFFERS) of the server's own statement (its parameters
# and SET LOCALs included) for one more call of each, made after the timed
# ones (the timing of every plan node slows that call down).
#   bash tests/bench_metrics.sh
#   G1P_BIN=/path/to/g1p-api bash tests/bench_metrics.sh   (no build)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
cd "$G1P_ROOT"
N=${BENCH_REFERRALS:-1000000}
RUNS=${BENCH_RUNS:-9}
if [[ -z ${G1P_BIN:-} ]]; then
  g1p_install_packages
  g1p_build build
  G1P_BIN=./build/g1p-api
fi

PGDIR=$(mktemp -d /tmp/g1p-bench-metrics.XXXXXX)
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

start_server() { # new connections: they pick up the database's settings
  DATABASE_URL=$URL JWT_HS256_SECRET=$SECRET PORT=$PORT LOG_LEVEL=warning WEBHOOK_WORKERS=0 "$G1P_BIN" >>"$PGDIR/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.1; done
  echo "the server did not start:" >&2
  cat "$PGDIR/server.log" >&2
  exit 1
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

start_server # applies the migrations
stop_server
t0=$(date +%s)
psql -X -q -d "$URL" -v n="$N" -v regions=16 -v years=10 -f tests/data/generate.sql
psql -X -q -d "$URL" -v share=0.444 -f tests/data/generate_families.sql
psql -X -q -d "$URL" -c 'VACUUM ANALYZE'
echo "Data generated in $(( $(date +%s) - t0 )) s:"
psql -X -At -d "$URL" -F ' ' -c "SELECT
  (SELECT count(*) FROM referrals) || ' referrals, ' ||
  (SELECT count(*) FROM families) || ' families (' ||
  round(100.0 * (SELECT count(*) FROM families) / (SELECT count(*) FROM referrals WHERE first_contact_on IS NOT NULL)) || '% of contacted referrals), ' ||
  (SELECT count(*) FROM family_waits) || ' waiting items (families with 0/1/2: ' ||
  (SELECT string_agg(c::text, '/' ORDER BY n) FROM (SELECT jsonb_array_length(waiting_for) n, count(*) c FROM families GROUP BY 1) x) || '), ' ||
  (SELECT count(*) FROM family_bridging) || ' waiting spells, ' ||
  (SELECT count(*) FROM family_coaches) || ' coach periods (coached families with 1/2/3 coaches: ' ||
  (SELECT string_agg(c::text, '/' ORDER BY coach_periods) FROM (SELECT coach_periods, count(*) c FROM families WHERE coach_periods > 0 GROUP BY 1) x) || ')'"

TOKEN=$(SECRET=$SECRET node -e '
  const c = require("crypto"); const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "bench", exp: Math.floor(Date.now() / 1000) + 3600, regions: ["*"], scope: "metrics:read"});
  console.log(i + "." + c.createHmac("sha256", process.env.SECRET).update(i).digest("base64url"));')
TO=$(date -u +%F)
FROM10=$(date -u -d "$TO - 10 years" +%F)
YEAR=$(( $(date -u +%Y) - 1 ))
ONE_YEAR="from=$YEAR-01-01&to=$YEAR-12-31&group_by=region,month"
TEN_YEARS="from=$FROM10&to=$TO&group_by=region,month"
call() { curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/metrics?$1"; }
median_ms() {
  for _ in $(seq "$RUNS"); do call "$1"; done | sort -n | awk '{a[NR] = $1} END {printf "%.0f ms (%.0f..%.0f)", a[int((NR + 1) / 2)] * 1000, a[1] * 1000, a[NR] * 1000}'
}

start_server
call "$TEN_YEARS" >/dev/null # warm the cache once
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| Metrics query ($N referrals, 16 regions, 10 years, with the families) | median of $RUNS (min..max) |"
echo "|---|---|"
echo "| one year ($YEAR), group_by=region,month | $(median_ms "$ONE_YEAR") |"
echo "| ten years, group_by=region,month | $(median_ms "$TEN_YEARS") |"
echo "| ten years, one total row | $(median_ms "from=$FROM10&to=$TO") |"
echo "| ten years, group_by=region,month, CSV | $(median_ms "$TEN_YEARS&format=csv") |"
stop_server

# The plans: auto_explain in the server's own sessions, then off again.
for s in "session_preload_libraries = 'auto_explain'" "auto_explain.log_min_duration = 0" "auto_explain.log_analyze = on" \
         "auto_explain.log_buffers = on"; do
  psql -X -q -d postgres -c "ALTER DATABASE g1p SET $s"
done
LOG=$(wc -l <"$PGDIR/postgres.log")
start_server
call "$ONE_YEAR" >/dev/null
call "$TEN_YEARS" >/dev/null
stop_server
psql -X -q -d postgres -c 'ALTER DATABASE g1p RESET ALL'
# Each plan is a "duration: ... plan:" line, the query text and the plan's
# tab-indented lines; only the metrics statement's plans are printed, without
# the statement itself.
tail -n +"$((LOG + 1))" "$PGDIR/postgres.log" | awk '
  /duration: .* plan:/ { inplan = 1; want = 0; title = $0; sub(/^.*duration: /, "", title); sub(/ +plan:.*$/, "", title); next }
  inplan && /^\t/ {
    if ($0 ~ /Query Text:/) { want = ($0 ~ /scope_regions/); if (want) { n++; head[n] = title } next }
    if (want) body[n] = body[n] $0 "\n"
    next
  }
  { inplan = 0 }
  END {
    names[1] = "one year"; names[2] = "ten years"
    for (i = 1; i <= n; i++) { printf "\n### Plan, %s, group_by=region,month (%s)\n\n", names[i], head[i]; printf "%s", body[i] }
  }'
