#!/usr/bin/env bash
# The whole local stack without Docker: Kafka + FerretDB (see kafka.sh, ferretdb.sh) and the
# five services and the console as local processes.
#
#   infra/local/stack.sh up | down | status | logs [-f] [name] | infra-up | infra-down
#
# up          infra-up, then start every service not already running and wait (60 s each)
#             for GET /healthz to answer 200; on failure show the log tail and exit 1.
#             INSTANCES=N (default 1) runs N processes per service: instance i listens on the
#             service's port + 10*(i-1) (intake 8001, 8011, ...) and all share one consumer
#             group per service, so Kafka splits the partitions between them.
# down        stop the services, then Kafka and FerretDB: only processes started by these
#             scripts (pid files in .run/pids), nothing else.
# status      table of every process (infra, services, console); always exits 0.
# logs        last 50 lines of every log in .run/logs (or just one name's); -f follows.
# infra-up    install (cached in .cache/infra) and start Kafka and FerretDB; no-op if running.
# infra-down  stop Kafka and FerretDB.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$ROOT/infra/local"
SERVICES=(intake scheduling session coaching journey console)
HEALTH_TIMEOUT=60
INSTANCES="${INSTANCES:-1}"
INSTANCE_PORT_STEP=10
[[ $INSTANCES =~ ^[1-9]$ ]] || die "INSTANCES must be 1 to 9, not '$INSTANCES'"

# Process names: the first instance of a service is `intake`, further ones `intake-2`, ...
instance_names() {
  local name i
  for name in "${SERVICES[@]}"; do
    echo "$name"
    for ((i = 2; i <= INSTANCES; i++)); do echo "$name-$i"; done
  done
}
service_of() { echo "${1%-[0-9]}"; }
instance_of() { [[ $1 =~ -([0-9])$ ]] && echo "${BASH_REMATCH[1]}" || echo 1; }
service_port() {
  local var base
  var="$(service_of "$1")" && var="${var^^}_PORT"
  base=${!var}
  echo $((base + INSTANCE_PORT_STEP * ($(instance_of "$1") - 1)))
}
service_pattern() { echo "$PYTHON -m services.$(service_of "$1") "; } # cmdline args are space-joined
# Every process name with a pid file, so `down` and `status` see instances of any earlier `up`.
known_names() {
  {
    instance_names
    shopt -s nullglob
    local file
    for file in "$PIDS"/*.pid; do
      file=${file##*/}
      file=${file%.pid}
      [[ " ${SERVICES[*]} " == *" $(service_of "$file") "* ]] && echo "$file"
    done
  } | awk '!seen[$0]++'
}

healthy() { # PORT
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/healthz") == 200 ]]
}

infra_up() {
  local t0=$SECONDS build_pid pg_pid build_log="$LOGS/ferretdb-install.log" pg_out="$LOGS/postgres-start.log"
  mkdir -p "$LOGS"
  # The FerretDB build (cold: a few CPU-bound minutes) and PostgreSQL's start overlap with
  # Kafka's download/start.
  bash "$HERE/ferretdb.sh" install >"$build_log" 2>&1 &
  build_pid=$!
  bash "$HERE/postgres.sh" start >"$pg_out" 2>&1 &
  pg_pid=$!
  bash "$HERE/kafka.sh" start
  if ! wait "$pg_pid"; then
    cat "$pg_out" >&2
    die "postgresql start failed (log: $LOGS/postgres.log)"
  fi
  cat "$pg_out" >&2
  if ! wait "$build_pid"; then
    tail -n 30 "$build_log" >&2
    die "ferretdb install failed (full output: $build_log)"
  fi
  grep -v '^go: downloading' "$build_log" >&2 || true
  bash "$HERE/ferretdb.sh" start
  log "infrastructure up ($(elapsed "$t0") in total)"
}

infra_down() {
  bash "$HERE/kafka.sh" stop
  bash "$HERE/ferretdb.sh" stop
  bash "$HERE/postgres.sh" stop
}

start_service() {
  local name=$1 port pid
  port=$(service_port "$name")
  if pid=$(pid_of "$name" "$(service_pattern "$name")"); then
    log "$name already running (pid $pid, port $port)"
    return 0
  fi
  ! port_open 127.0.0.1 "$port" || die "$name: port $port is already in use by another process"
  pid=$(start_bg "$name" "$LOGS/$name.log" env \
    HTTP_PORT="$port" \
    INTAKE_URL="http://127.0.0.1:$(service_port intake)" \
    SCHEDULING_URL="http://127.0.0.1:$(service_port scheduling)" \
    SESSION_URL="http://127.0.0.1:$(service_port session)" \
    COACHING_URL="http://127.0.0.1:$(service_port coaching)" \
    JOURNEY_URL="http://127.0.0.1:$(service_port journey)" \
    CONSOLE_DEV_SIGN_IN="${CONSOLE_DEV_SIGN_IN:-true}" \
    DEV_MODE="${DEV_MODE:-true}" \
    KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT" \
    MONGODB_URL="mongodb://127.0.0.1:$MONGODB_PORT" \
    "$PYTHON" -m "services.$(service_of "$name")")
  log "$name starting (pid $pid, port $port, log $LOGS/$name.log)"
}

up() {
  local t0 name names
  infra_up
  t0=$SECONDS
  mapfile -t names < <(instance_names)
  for name in "${names[@]}"; do start_service "$name"; done
  for name in "${names[@]}"; do
    wait_ready "$name" "$(service_pattern "$name")" "$HEALTH_TIMEOUT" "$LOGS/$name.log" \
      healthy "$(service_port "$name")" || die "$name did not become healthy"
    log "$name healthy on http://127.0.0.1:$(service_port "$name")"
  done
  log "services up in $(elapsed "$t0")"
}

down() {
  local i names
  mapfile -t names < <(known_names)
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    stop_pid "${names[i]}" "$(service_pattern "${names[i]}")" 15
  done
  infra_down
}

status() {
  local name pid port health
  printf '%-11s %-8s %-6s %-8s %s\n' NAME PID PORT STATE HEALTH
  row() { # NAME PATTERN PORT [HEALTH-CHECK]
    pid=$(pid_of "$1" "$2") || pid=""
    health="-"
    if [[ -n $pid && -n ${4:-} ]]; then
      if "$4" "$3"; then health="healthy"; else health="unhealthy"; fi
    fi
    printf '%-11s %-8s %-6s %-8s %s\n' "$1" "${pid:--}" "$3" "$([[ -n $pid ]] && echo running || echo stopped)" "$health"
  }
  row kafka "$KAFKA_CONF" "$KAFKA_PORT"
  row postgres "$RUN/postgres/data" "$POSTGRES_PORT"
  row ferretdb "$FERRETDB_BIN" "$MONGODB_PORT"
  while read -r name; do
    port=$(service_port "$name")
    row "$name" "$(service_pattern "$name")" "$port" healthy
  done < <(known_names)
}

logs() {
  local follow="" name="" files=()
  while (($#)); do
    case "$1" in
      -f) follow=1 ;;
      *) name=$1 ;;
    esac
    shift
  done
  if [[ -n $name ]]; then
    [[ " kafka postgres ferretdb ${SERVICES[*]} " == *" $(service_of "$name") "* ]] || die "unknown name '$name'"
    files=("$LOGS/$name.log")
    [[ -f ${files[0]} ]] || die "no log yet: ${files[0]}"
  else
    shopt -s nullglob
    files=("$LOGS"/*.log)
    ((${#files[@]})) || die "no logs in $LOGS"
  fi
  if [[ -n $follow ]]; then
    exec tail -n 50 -F "${files[@]}"
  fi
  tail -n 50 "${files[@]}"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  up | down | status) "$cmd" ;;
  logs) logs "$@" ;;
  infra-up) infra_up ;;
  infra-down) infra_down ;;
  *) echo "usage: $0 up|down|status|logs [-f] [name]|infra-up|infra-down" >&2; exit 2 ;;
esac
