#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (plain, with ASan+UBSan,
# and the libFuzzer harnesses with clang), starts a throwaway PostgreSQL
# cluster, runs the unit and HTTP suites under ctest for both builds and each
# fuzzer for FUZZ_SECONDS (default 20), and removes the cluster.
#   bash tests/run.sh               everything
#   G1P_QUICK=1 bash tests/run.sh   plain build only
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
cd "$G1P_ROOT"

g1p_install_packages
if [[ ! -d tests/node_modules ]] || [[ tests/package-lock.json -nt tests/node_modules ]]; then
  g1p_log "installing test tools (npm ci)"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

g1p_log "building"
g1p_build build
if [[ -z ${G1P_QUICK:-} ]]; then
  g1p_build build-asan -DG1P_SANITIZE=ON
  CC=clang-14 g1p_build build-fuzz -DG1P_FUZZ=ON -DFUZZ_SECONDS="${FUZZ_SECONDS:-20}"
fi

PGDIR=$(mktemp -d /tmp/g1p-test-pg.XXXXXX)
cleanup() { g1p_pgbouncer_stop "$PGDIR/pgbouncer"; g1p_pg_stop "$PGDIR"; rm -rf "$PGDIR"; }
trap cleanup EXIT
# Tests need no durability: fsync off keeps the suite fast.
G1P_PG_FSYNC=off g1p_pg_start "$PGDIR"
export G1P_PG_ADMIN_URL; G1P_PG_ADMIN_URL=$(g1p_db_url postgres)
g1p_log "PostgreSQL on $PGHOST port $PGPORT"

g1p_log "tests (plain build)"
ctest --test-dir build --output-on-failure -j2

# Container: docker/Dockerfile built with podman, the image run against this
# cluster and tested over HTTP (tests/container/test.sh). Once per run.
g1p_log "container image (podman): build, health, API, SIGTERM"
bash tests/container/test.sh

# Scale-out: every HTTP test once more with each server behind PgBouncer in
# transaction mode (no prepared statements, no session state).
export G1P_VIA_PGBOUNCER; G1P_VIA_PGBOUNCER=$(g1p_pgbouncer_start "$PGDIR/pgbouncer")
g1p_log "HTTP tests through PgBouncer (transaction mode) at $G1P_VIA_PGBOUNCER"
# (Tests of their own clusters, of the client side or of configuration gain
# nothing from the pooler and are left out of this pass.)
ctest --test-dir build --output-on-failure -j2 -R '^http_' \
  -E '^http_(pitr|replica|jwks|prometheus|fail2ban|docs|browser|cors|wire|startup|retention|webhooks_faults)$'
unset G1P_VIA_PGBOUNCER
if [[ -z ${G1P_QUICK:-} ]]; then
  g1p_log "tests (AddressSanitizer + UndefinedBehaviorSanitizer build)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$G1P_ROOT/tests/lsan.supp:print_suppressions=0
  # (The browser-side tests exercise Chromium, not the server's C code.)
  G1P_SANITIZED=1 ctest --test-dir build-asan --output-on-failure -j2 -E '^http_(browser|docs|fail2ban)$'
  g1p_log "fuzzing the body validators, the token parser and the query decoder (${FUZZ_SECONDS:-20} s each)"
  ctest --test-dir build-fuzz --output-on-failure -j2 -R '^fuzz_'
fi
