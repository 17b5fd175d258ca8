#!/usr/bin/env bash
# A private PostgreSQL cluster for tests that stop and start the database
# (tests/http/faults.test.mjs): the suite's shared cluster must stay up.
#   tests/pg-cluster.sh start DIR [PORT]   prints "<socket dir> <port>"
#   tests/pg-cluster.sh stop DIR fast|immediate
#   tests/pg-cluster.sh remove DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../docker/local-env.sh"
dir=$2
case $1 in
  start)
    G1P_PG_FSYNC=${G1P_PG_FSYNC:-on} g1p_pg_start "$dir" "${3:-}"
    echo "$PGHOST $PGPORT"
    ;;
  stop)
    g1p_as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
    ;;
  remove)
    g1p_pg_stop "$dir"
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop|remove DIR ..." >&2; exit 2 ;;
esac
