# Shared by docker/run-local.sh (run the service) and tests/run.sh (run every
# test): install what is missing, build, and run a private PostgreSQL 15
# cluster. Sourced, not executed. Works as root (CI) or as a normal user with
# the packages already installed.

G1P_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
G1P_PACKAGES="build-essential cmake pkg-config libulfius-dev libjansson-dev libjwt-dev liborcania-dev libyder-dev libmicrohttpd-dev libpq-dev libssl-dev libcurl4-gnutls-dev openssl postgresql-15 postgresql-client-15 nodejs npm wrk postgresql-contrib clang-14 libclang-rt-14-dev pgbouncer chromium prometheus fail2ban podman runc debootstrap"

g1p_log() { printf '>> %s\n' "$*" >&2; }

# apt-get update once, and only when something is missing, so the common
# case (everything installed) costs one dpkg query.
g1p_install_packages() {
  local missing=()
  for p in $G1P_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # The machine may bring node/npm outside Debian's packages.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    local kept=()
    for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || kept+=("$p"); done
    missing=("${kept[@]}")
  fi
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    g1p_log "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    return 1
  fi
  g1p_log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# g1p_build DIR [cmake args...]
g1p_build() {
  local dir=$1; shift
  cmake -S "$G1P_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null
}

g1p_free_port() {
  python3 - <<'PY' 2>/dev/null || node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

# PostgreSQL refuses to run as root: as root we run it as the postgres OS
# user, which must own the data folder and be able to traverse its parents.
g1p_as_pg() {
  # from / : the postgres user may not be allowed into the caller's folder
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

g1p_pg_can_use() { # DIR: can the cluster's OS user reach DIR?
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- test -x "$1" 2>/dev/null; else test -x "$1"; fi
}

# g1p_pg_start DIR [PORT]: initialises DIR/data once, starts it on PORT (or
# a free port) with its socket in DIR, and sets PGHOST, PGPORT, PGUSER.
g1p_pg_start() {
  local dir=$1
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    g1p_as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  local port=${2:-}
  [[ -n $port ]] || port=$(g1p_free_port)
  g1p_as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses='' -c fsync=${G1P_PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=256MB" start >/dev/null
  export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

g1p_pg_stop() { # DIR
  [[ -f $1/data/postmaster.pid ]] && g1p_as_pg "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# The database URL for database NAME of the running cluster.
g1p_db_url() { echo "postgresql:///$1?host=$PGHOST&port=$PGPORT&user=postgres"; }

# g1p_pgbouncer_start DIR: a PgBouncer in transaction mode in front of the
# running cluster (every database), on a unix socket in DIR and a free
# port; prints "<socket dir> <port>". Runs as the postgres OS user (it
# refuses root).
g1p_pgbouncer_start() {
  local dir=$1 port
  port=$(g1p_free_port)
  mkdir -p "$dir"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST port=$PGPORT user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
; a client waits at most this long for a server connection (the default,
; 120 s, would hold a request that long while the database is gone)
query_wait_timeout = 5
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  echo '"postgres" ""' > "$dir/users.txt"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$dir"; fi
  g1p_as_pg /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini"
  for _ in $(seq 50); do [[ -S $dir/.s.PGSQL.$port ]] && break; sleep 0.1; done
  echo "$dir $port"
}

g1p_pgbouncer_stop() { # DIR
  [[ -f $1/pgbouncer.pid ]] && kill "$(cat "$1/pgbouncer.pid")" 2>/dev/null || true
}
