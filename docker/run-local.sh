#!/usr/bin/env bash
# Runs the service for development: installs what is missing, builds, and
# when DATABASE_URL is not set starts the embedded default (a private
# PostgreSQL 15 cluster in .g1p/, reused on the next run), then prints a
# development token and a curl line. Ctrl-C stops the server and the cluster.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local-env.sh"
cd "$G1P_ROOT"

g1p_install_packages
g1p_log "building"
g1p_build build

PGDIR=
if [[ -z ${DATABASE_URL:-} ]]; then
  PGDIR=$G1P_ROOT/.g1p
  mkdir -p "$PGDIR"
  # The postgres OS user must reach the folder; a checkout under a private
  # home is not reachable, so the cluster then lives under /var/lib instead.
  if ! g1p_pg_can_use "$PGDIR"; then
    PGDIR=/var/lib/g1p-dev/$(printf '%s' "$G1P_ROOT" | md5sum | cut -c1-12)
    mkdir -p "$PGDIR"
    g1p_log "$G1P_ROOT is not reachable by the postgres user: cluster in $PGDIR"
  fi
  g1p_pg_start "$PGDIR"
  psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'g1p'" | grep -q 1 || psql -X -q -d postgres -c 'CREATE DATABASE g1p'
  export DATABASE_URL; DATABASE_URL=$(g1p_db_url g1p)
  SECRET_FILE=$G1P_ROOT/.g1p/dev-secret
  [[ -s $SECRET_FILE ]] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$SECRET_FILE")
  export JWT_HS256_SECRET; JWT_HS256_SECRET=${JWT_HS256_SECRET:-$(cat "$SECRET_FILE")}
fi
export PORT=${PORT:-8080}

cleanup() { [[ -n $PGDIR ]] && g1p_pg_stop "$PGDIR"; }
trap cleanup EXIT

if [[ -n ${JWT_HS256_SECRET:-} ]]; then
  TOKEN=$(SECRET=$JWT_HS256_SECRET node -e '
    const c = require("crypto");
    const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const i = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "dev", exp: now + 30 * 86400, regions: ["*"],
      scope: "referrals:read referrals:write plans:read plans:write metrics:read admin"});
    console.log(i + "." + c.createHmac("sha256", process.env.SECRET).update(i).digest("base64url"));')
  cat <<MSG

  1G1P API on http://127.0.0.1:$PORT  (Ctrl-C stops it)
  Development token (all scopes, all regions, valid 30 days):

  export TOKEN=$TOKEN
  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$PORT/v1/regions

MSG
fi
./build/g1p-api &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' INT TERM
wait $SERVER || true
wait $SERVER 2>/dev/null || true
