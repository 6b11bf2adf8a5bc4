#!/usr/bin/env bash
# PostgreSQL 15 from Debian's packages: the storage under FerretDB, run as a local process.
#
#   infra/local/postgres.sh install|start|stop|status|psql [ARGS...]
#
# install: uses the server binaries under /usr/lib/postgresql/15/bin (apt-get install
#   postgresql-15 when they are missing).
# start: initialises .run/postgres/data on first use (trust auth, loopback only), starts the
#   server on 127.0.0.1:$POSTGRES_PORT as the `postgres` system user when run as root
#   (PostgreSQL refuses to run as root), creates the `ferretdb` database and applies
#   ferretdb-guards.sql to it (GIN twins of FerretDB's indexes and the version guard; see
#   README.md, "FerretDB's guards").
# Settings for a development database: fsync off (a killed process loses nothing, an OS
# crash may), synchronous_commit on (a commit is in the WAL before it is acknowledged), and
# custom plans for every statement, so FerretDB's parameterised `_jsonb -> $1 @> $2` is
# planned with the key known and matches the GIN twins.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}"
PG_RUN="$RUN/postgres"
PG_DATA="$PG_RUN/data"
PG_LOG="$LOGS/postgres.log"
PG_USER="postgres"
GUARDS="$ROOT/infra/local/ferretdb-guards.sql"

# as_pg CMD... : run CMD as the postgres system user when we are root, else as ourselves.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups --reset-env -- "$@")
  else
    "$@"
  fi
}

# resolve_paths : when .run/postgres links elsewhere (see reachable_run_dir), name the cluster
# by its real path, which is the one the postgres user can reach.
resolve_paths() {
  if [[ -L $PG_RUN ]]; then
    PG_RUN=$(readlink -f "$PG_RUN")
    PG_DATA="$PG_RUN/data"
  fi
}

install() {
  if [[ -x $PG_BIN/postgres ]]; then
    log "postgresql $PG_MAJOR server binaries present ($PG_BIN)"
  else
    apt_install "postgresql-$PG_MAJOR"
    [[ -x $PG_BIN/postgres ]] || die "postgresql-$PG_MAJOR installed but $PG_BIN/postgres is missing"
  fi
  if [[ $(id -u) -eq 0 ]] && ! id -u "$PG_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$PG_USER"
  fi
}

psql_() { PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$POSTGRES_PORT" -U "$PG_USER" "$@"; }

# reachable_run_dir : make $PG_RUN a directory the postgres user can use. When the checkout
# lies below a directory it cannot enter (a clone under /root, say), the cluster lives in
# /var/tmp/kap-postgres-<hash of the run directory> and $PG_RUN links to it.
reachable_run_dir() {
  [[ $(id -u) -eq 0 ]] || { mkdir -p "$PG_RUN"; return 0; }
  local fresh="" elsewhere
  if [[ ! -e $PG_RUN ]]; then
    fresh=1
    mkdir -p "$PG_RUN"
    chown "$PG_USER:" "$PG_RUN"
  fi
  as_pg test -w "$PG_RUN/" && return 0
  elsewhere="/var/tmp/kap-postgres-$(printf '%s' "$RUN" | sha256sum | cut -c1-12)"
  log "the postgres user cannot reach $PG_RUN; keeping the cluster in $elsewhere"
  [[ -L $PG_RUN ]] || rmdir "$PG_RUN"
  [[ -z $fresh ]] || rm -rf "$elsewhere" # .run was deleted: so is the cluster it linked to
  mkdir -p "$elsewhere"
  chown "$PG_USER:" "$elsewhere"
  chmod 700 "$elsewhere"
  ln -sfn "$elsewhere" "$PG_RUN"
  resolve_paths
}

init_cluster() {
  reachable_run_dir
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  log "initialising a PostgreSQL $PG_MAJOR cluster in $PG_DATA"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --auth=trust --encoding=UTF8 \
    --locale=C --no-sync >/dev/null
  cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- kap development settings (infra/local/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_RUN'
fsync = off
full_page_writes = off
synchronous_commit = on
plan_cache_mode = force_custom_plan
max_connections = 300
shared_buffers = 256MB
logging_collector = off
log_min_messages = warning
EOF
}

ping_pg() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT"; }

start() {
  local t0=$SECONDS pid
  if pid=$(pid_of postgres "$PG_DATA"); then
    log "postgresql already running (pid $pid, 127.0.0.1:$POSTGRES_PORT)"
    return 0
  fi
  install
  init_cluster
  ! port_open 127.0.0.1 "$POSTGRES_PORT" || die "port $POSTGRES_PORT is already in use by another process"
  rm -f "$PG_DATA/postmaster.pid" # left by a killed server; no live postmaster is ours here
  if [[ $(id -u) -eq 0 ]]; then
    pid=$(start_bg postgres "$PG_LOG" setpriv --reuid="$PG_USER" --regid="$PG_USER" \
      --init-groups -- "$PG_BIN/postgres" -D "$PG_DATA" -p "$POSTGRES_PORT")
  else
    pid=$(start_bg postgres "$PG_LOG" "$PG_BIN/postgres" -D "$PG_DATA" -p "$POSTGRES_PORT")
  fi
  log "postgresql starting (pid $pid, log $PG_LOG)"
  wait_ready postgres "$PG_DATA" 30 "$PG_LOG" ping_pg
  if [[ -z $(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'") ]]; then
    psql_ -d postgres -c "CREATE DATABASE ferretdb"
  fi
  psql_ -d ferretdb -f "$GUARDS" >/dev/null
  analyze_soon
  log "postgresql ready on 127.0.0.1:$POSTGRES_PORT with FerretDB's guards (started in $(elapsed "$t0"))"
}

# analyze_soon : autovacuum looks every second and analyzes a table once 5 % of it changed.
# A collection FerretDB has just created has no statistics, and its `_id` lookups were planned
# as sequential scans that detoast every document: a journey replay into a fresh generation
# (bulk inserts, no ANALYZE for the first minute) spent 30 ms a lookup at 4,000 patients,
# 1,041 sequential scans reading 2.1 million rows; with these settings, 11 and 0.014 ms.
analyze_soon() {
  psql_ -d postgres -c "ALTER SYSTEM SET autovacuum_naptime = '1s'" \
    -c "ALTER SYSTEM SET autovacuum_analyze_scale_factor = 0.05" \
    -c "ALTER SYSTEM SET autovacuum_vacuum_insert_scale_factor = 0.05" \
    -c "SELECT pg_reload_conf()" >/dev/null
}

# Fast shutdown (SIGINT): disconnect clients, roll back, checkpoint. SIGTERM would wait for
# every client to leave; SIGQUIT after 30 s is an immediate shutdown (recovery at next start).
stop() { stop_pid postgres "$PG_DATA" 30 INT QUIT; }

status() {
  local pid
  if pid=$(pid_of postgres "$PG_DATA"); then
    echo "postgres: running (pid $pid, 127.0.0.1:$POSTGRES_PORT)"
  else
    echo "postgres: stopped"
    return 1
  fi
}

resolve_paths
cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install | start | stop | status) "$cmd" ;;
  psql) psql_ -d ferretdb "$@" ;;
  *) echo "usage: $0 install|start|stop|status|psql [ARGS...]" >&2; exit 2 ;;
esac
