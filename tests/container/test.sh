#!/usr/bin/env bash
# The container stage of the test suite: builds docker/Dockerfile with podman
# and tests the real image against the suite's PostgreSQL cluster.
#
#   - builds the image (podman build --format docker, so HEALTHCHECK is kept)
#     as localhost/g1p-api:latest, the image compose.yaml names;
#   - runs it with --network host on a free port, reaching the cluster through
#     its unix socket bind-mounted into the container (nothing about the
#     cluster changes: not its folder's permissions, not listen_addresses);
#   - waits until `podman healthcheck run` answers 0, then api.mjs calls every
#     resource family over HTTP with an HS256 token and checks each answer
#     against openapi/openapi.yaml, and checks docker/compose.yaml against
#     what this test ran;
#   - checks the image: user 10001, health check, size under 120 MB, CA
#     certificates;
#   - stops it with `podman stop -t 10`, idle and then with a write held in
#     flight: the server drains (the write completes and is stored), exits 0
#     (not 137: no SIGKILL) in well under 10 s; prints the times.
# Every step is time-bounded; the container, its database and the temporary
# files go on any exit.
#
# Needs a running cluster: PGHOST (its socket folder) and PGPORT, as
# tests/run.sh exports them; tests/node_modules installed; podman, runc and
# debootstrap (docker/local-env.sh lists them). Alone:
#   source docker/local-env.sh; g1p_pg_start "$(mktemp -d)"; bash tests/container/test.sh
#
# No container registry is reachable from CI: the base image
# docker.io/library/debian:bookworm-slim is made here once with debootstrap
# (slimmed the way the official image is) and kept in podman's storage, so
# later runs on the same machine reuse it and podman's layer cache.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../docker/local-env.sh"
cd "$G1P_ROOT"

if [[ $(id -u) -ne 0 ]]; then
  # Rootless podman maps uids and networks differently; CI runs as root.
  g1p_log "container: SKIPPED: this stage needs root (rootful podman with runc)"
  exit 0
fi

: "${PGHOST:?PGHOST (the cluster socket folder) is not set: run through tests/run.sh}"
: "${PGPORT:?PGPORT is not set: run through tests/run.sh}"

IMAGE=localhost/g1p-api:latest
BUILD_IMAGE=localhost/g1p-api-build:latest # the build stage, tagged so its cache survives pruning
BASE=docker.io/library/debian:bookworm-slim
MAX_IMAGE_BYTES=$((120 * 1000 * 1000))
SECRET=test-secret-that-is-long-enough-0123456789 # tests/http/lib.mjs's SECRET
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

WORK=$(mktemp -d /tmp/g1p-container.XXXXXX)
NAME=g1p-api-test-$$
DB=g1p_container_$$
ADMIN_URL=$(g1p_db_url postgres)
STARTED=$SECONDS

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]] && "${PODMAN[@]}" container exists "$NAME" 2>/dev/null; then
    g1p_log "container: the server's log (last 40 lines)"
    "${PODMAN[@]}" logs "$NAME" 2>&1 | tail -40 >&2 || true
  fi
  timeout 30 "${PODMAN[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  exec 7>&- 2>/dev/null || true
  local p
  for p in ${LOAD_PID:-} ${LOCK_PID:-} ${STOP_PID:-}; do kill "$p" 2>/dev/null || true; done
  psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  [[ $rc -eq 0 ]] || g1p_log "container: FAILED (exit $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { g1p_log "container: $*"; exit 1; }

# Runs "$@" under a time limit; on failure prints the tail of LOG.
bounded() { # SECONDS LOG command...
  local limit=$1 log=$2; shift 2
  if ! timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1; then
    tail -30 "$log" >&2
    fail "failed or took over $limit s: $*"
  fi
}

make_base_image() {
  local root=$WORK/rootfs
  g1p_log "container: no $BASE in podman's storage: making it with debootstrap (once per machine)"
  bounded 180 "$WORK/debootstrap.log" debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
  # What debuerreotype does for the official slim images: dpkg keeps
  # documentation, manuals and translations out, apt keeps no caches, and
  # the sources include the updates and security suites.
  cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'APT::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$root/etc/apt/sources.list"
  cat > "$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$root/usr/share/doc" -type f ! -name copyright -delete
  find "$root/usr/share/doc" -type l -delete
  rm -rf "$root"/usr/share/{info,linda,locale,man}/* "$root"/usr/share/lintian/overrides/* \
         "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old
  find "$root/var/log" -type f -delete
  tar -C "$root" -c . | timeout 120 "${PODMAN[@]}" import --change 'CMD ["bash"]' - "$BASE" >"$WORK/import.log" 2>&1 \
    || { cat "$WORK/import.log" >&2; fail "podman import failed"; }
  rm -rf "$root"
}

# 1. The image.
t0=$SECONDS
if ! "${PODMAN[@]}" image exists "$BASE"; then make_base_image; fi
base_seconds=$((SECONDS - t0))
old_id=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
t0=$SECONDS
build=("${PODMAN[@]}" build --format docker --pull=never --network host "${LIMITS[@]}" -f docker/Dockerfile)
# The build stage first, tagged: the pruning below then keeps its layers
# (the full build right after reuses them).
bounded 300 "$WORK/build.log" "${build[@]}" --target build -t "$BUILD_IMAGE" .
bounded 180 "$WORK/build.log" "${build[@]}" -t "$IMAGE" .
build_seconds=$((SECONDS - t0))
new_id=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$IMAGE")
# Layers of earlier builds of this Dockerfile that nothing names any more
# (a source change leaves the old ones behind on a machine that keeps its
# storage): only images carrying this Dockerfile's label, only dangling ones.
if [[ -n $old_id && $old_id != "$new_id" ]]; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pruned=$(timeout 60 "${PODMAN[@]}" image prune -f --filter label=org.opencontainers.image.title=g1p-api 2>/dev/null || true)
    [[ -n $pruned ]] || break
  done
fi
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
g1p_log "container: image $IMAGE ${new_id:0:12}: $size bytes ($((size / 1000000)) MB); base image ${base_seconds} s, build ${build_seconds} s"
(( size < MAX_IMAGE_BYTES )) || fail "the image is $size bytes, over $MAX_IMAGE_BYTES"

user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
[[ $user == 10001:10001 ]] || fail "the image's user is '$user', expected 10001:10001"
"${PODMAN[@]}" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" > "$WORK/healthcheck.json"
grep -q '/health' "$WORK/healthcheck.json" || fail "the image has no HEALTHCHECK on /health: $(cat "$WORK/healthcheck.json")"

# 2. Its database: a fresh one in the suite's cluster. The container reaches
# the cluster's unix socket bind-mounted into it: runc opens the host path as
# root, so the cluster folder stays postgres-only (0700), and in the
# container the socket (0777, PostgreSQL's default) sits in a folder podman
# creates, open to uid 10001.
psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null
SOCKET=$PGHOST/.s.PGSQL.$PGPORT
[[ -S $SOCKET ]] || fail "no PostgreSQL socket at $SOCKET"
PORT=$(g1p_free_port)
DATABASE_URL="postgresql:///$DB?host=/run/postgresql&port=$PGPORT&user=postgres"
# The same variables api.mjs checks compose.yaml for.
ENV_USED=(DATABASE_URL PORT JWT_HS256_SECRET DB_POOL_SIZE LOG_LEVEL)

t0=$SECONDS
"${PODMAN[@]}" run -d --name "$NAME" --network host "${LIMITS[@]}" \
  -v "$SOCKET:/run/postgresql/.s.PGSQL.$PGPORT" \
  -e DATABASE_URL="$DATABASE_URL" -e PORT="$PORT" -e JWT_HS256_SECRET="$SECRET" \
  -e DB_POOL_SIZE=4 -e LOG_LEVEL=info \
  "$IMAGE" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; fail "podman run failed"; }
# Without systemd podman cannot schedule the periodic health check (it says
# so on stderr, kept in run.log); `podman healthcheck run` below runs it.

# 3. Healthy: `podman healthcheck run` runs the image's HEALTHCHECK command
# (curl inside the container) and answers 0.
wait_healthy() {
  local t0=$SECONDS status
  for _ in $(seq 60); do
    [[ $("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$NAME") == true ]] || fail "the container exited: $("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$NAME")"
    if timeout 10 "${PODMAN[@]}" healthcheck run "$NAME" >/dev/null 2>&1; then
      status=$("${PODMAN[@]}" inspect --format '{{.State.Health.Status}}' "$NAME")
      [[ $status == healthy ]] || fail "health status '$status', expected healthy"
      g1p_log "container: healthy after $((SECONDS - t0)) s on port $PORT"
      return 0
    fi
    sleep 0.5
  done
  fail "not healthy within 30 s"
}
wait_healthy

# The server is the container's PID 1 and runs as uid/gid 10001 (no user
# namespace: the same ids on the host).
pid=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$NAME")
[[ $(cat "/proc/$pid/comm") == g1p-api ]] || fail "the container's PID 1 is $(cat "/proc/$pid/comm"), not g1p-api"
ids=$(awk '/^Uid:|^Gid:/ {printf "%s %s %s %s ", $2, $3, $4, $5}' "/proc/$pid/status")
[[ $ids == "10001 10001 10001 10001 10001 10001 10001 10001 " ]] || fail "the server runs with uids/gids $ids, expected 10001 only"
[[ $("${PODMAN[@]}" inspect --format '{{.Config.User}}' "$NAME") == 10001:10001 ]] || fail "the container's user is not 10001:10001"
"${PODMAN[@]}" exec "$NAME" test -s /etc/ssl/certs/ca-certificates.crt || fail "no CA certificates in the image (webhooks and JWKS are https)"

# 4. The API, over HTTP, each answer checked against the contract; and
# compose.yaml against what ran here.
export G1P_CONTAINER_BASE=http://127.0.0.1:$PORT
export G1P_CONTAINER_IMAGE=$IMAGE
export G1P_CONTAINER_HEALTHCHECK; G1P_CONTAINER_HEALTHCHECK=$(cat "$WORK/healthcheck.json")
export G1P_CONTAINER_ENV="${ENV_USED[*]}"
export G1P_PG_ADMIN_URL=${G1P_PG_ADMIN_URL:-$ADMIN_URL}
bounded 120 "$WORK/api.log" node tests/container/api.mjs check
cat "$WORK/api.log" >&2

# 5. SIGTERM. podman stop -t 10 sends SIGTERM and SIGKILL 10 s later (exit
# 137): the server must drain and exit 0 well before that.
stop_container() { # LABEL: stops, checks exit code 0 and the time; sets stop_ms
  local t0 code
  t0=$(date +%s%N)
  timeout 30 "${PODMAN[@]}" stop -t 10 "$NAME" > "$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log" >&2; fail "podman stop failed"; }
  stop_ms=$((($(date +%s%N) - t0) / 1000000))
  code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$NAME")
  g1p_log "container: podman stop -t 10 ($1) took $stop_ms ms, exit code $code"
  [[ $code -eq 0 ]] || fail "exit code $code after SIGTERM, expected 0 (137 is SIGKILL)"
  (( stop_ms < 10000 )) || fail "stopping took $stop_ms ms: podman would have sent SIGKILL at 10 s"
}
drains() { "${PODMAN[@]}" logs "$NAME" 2>&1 | grep -c 'draining connections' || true; }

# 5a. Idle: the time SIGTERM takes by itself. Then the same container starts
# again (its migrations are already applied) and is healthy again.
stop_container idle
idle_stop_ms=$stop_ms
[[ $(drains) -eq 1 ]] || fail "the server did not log its drain"
"${PODMAN[@]}" logs "$NAME" 2>&1 | grep -q 'INFO: stopped' || fail "the server did not log that it stopped"
"${PODMAN[@]}" start "$NAME" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; fail "podman start failed"; }
wait_healthy

# 5b. A request in flight: a transaction of the test holds an exclusive lock
# on referrals, so a POST /v1/referrals is stuck in the server; SIGTERM; once
# the server has logged its drain the request is still unanswered; the lock
# goes, the request completes (201, the referral stored), and only then the
# server exits 0.
mkfifo "$WORK/lock.fifo"
psql "$(g1p_db_url "$DB")" -X -q -v ON_ERROR_STOP=1 < "$WORK/lock.fifo" > "$WORK/lock.log" 2>&1 &
LOCK_PID=$!
exec 7> "$WORK/lock.fifo"
echo "BEGIN; LOCK TABLE referrals IN ACCESS EXCLUSIVE MODE;" >&7
poll() { # TRIES SQL: until the count SQL answers is at least $3
  local n=0
  for _ in $(seq "$1"); do
    n=$(psql "$(g1p_db_url "$DB")" -X -A -t -q -c "$2")
    (( n >= $3 )) && return 0
    sleep 0.05
  done
  return 1
}
poll 100 "SELECT count(*) FROM pg_locks WHERE relation = 'referrals'::regclass AND mode = 'AccessExclusiveLock' AND granted" 1 \
  || fail "could not lock referrals: $(cat "$WORK/lock.log")"
node tests/container/api.mjs load > "$WORK/load.log" 2>&1 &
LOAD_PID=$!
poll 60 "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND wait_event_type = 'Lock'" 1 \
  || fail "the request did not reach the database: $(cat "$WORK/load.log")"
t_stop=$(date +%s%N)
stop_container "a request in flight" > "$WORK/stop-inflight.log" 2>&1 &
STOP_PID=$!
for _ in $(seq 100); do [[ $(drains) -ge 2 ]] && break; sleep 0.05; done
[[ $(drains) -ge 2 ]] || fail "no drain logged within 5 s of SIGTERM"
sleep 0.5
kill -0 "$LOAD_PID" 2>/dev/null || fail "the request was answered before the lock went: it was not in flight"
drain_seen_ms=$((($(date +%s%N) - t_stop) / 1000000))
echo "COMMIT;" >&7
exec 7>&-
wait "$LOCK_PID" || fail "the lock transaction failed: $(cat "$WORK/lock.log")"
LOCK_PID=
stop_rc=0; wait "$STOP_PID" || stop_rc=$?; STOP_PID=
cat "$WORK/stop-inflight.log" >&2
[[ $stop_rc -eq 0 ]] || exit 1
load_rc=0; wait "$LOAD_PID" || load_rc=$?; LOAD_PID=
cat "$WORK/load.log" >&2
[[ $load_rc -eq 0 ]] || fail "the request in flight at SIGTERM did not complete"
rid=$(tail -1 "$WORK/load.log")
[[ $(psql "$(g1p_db_url "$DB")" -X -A -t -q -c "SELECT count(*) FROM referrals WHERE id = '$rid'") == 1 ]] \
  || fail "the referral written during the drain is not stored"
g1p_log "container: the request was held ${drain_seen_ms} ms into the stop, then answered and stored; the server exited 0 after it"
g1p_log "container: passed in $((SECONDS - STARTED)) s (image $((size / 1000000)) MB, build ${build_seconds} s, stop ${idle_stop_ms} ms idle)"
