# shellcheck shell=bash
# Shared settings and helpers for the Docker-free local infrastructure scripts.
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Source it (`. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`); it is not meant to be run.
#
# Downloads and builds are cached under .cache/infra/ (reused across runs); everything a
# run creates (pid files, logs, data directories) lives under .run/.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/infra"
RUN="${KAP_RUN_DIR:-$ROOT/.run}" # KAP_RUN_DIR: a second stack's state (the chaos tier's own servers)
PIDS="$RUN/pids"
LOGS="$RUN/logs"
PYTHON="$ROOT/.venv/bin/python"
# What identifies our infra processes (a substring of their command lines, see pid_of).
KAFKA_CONF="$RUN/kafka/server.properties"
FERRETDB_BIN="$CACHE/bin/ferretdb"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
MONGODB_PORT="${MONGODB_PORT:-27017}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
INTAKE_PORT="${INTAKE_PORT:-8001}"
SCHEDULING_PORT="${SCHEDULING_PORT:-8002}"
SESSION_PORT="${SESSION_PORT:-8003}"
COACHING_PORT="${COACHING_PORT:-8004}"
JOURNEY_PORT="${JOURNEY_PORT:-8005}"
CONSOLE_PORT="${CONSOLE_PORT:-8006}"
export KAFKA_PORT KAFKA_CONTROLLER_PORT MONGODB_PORT POSTGRES_PORT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# apt_install PKG... : install Debian packages (used only when a tool is missing).
apt_install() {
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  log "installing with apt-get: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# port_open HOST PORT : true when something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS
wait_for_port() {
  local host=$1 port=$2 timeout=$3 deadline=$((SECONDS + $3))
  until port_open "$host" "$port"; do
    ((SECONDS < deadline)) || { log "$host:$port not open after ${timeout}s"; return 1; }
    sleep 0.5
  done
}

# --- pid files -------------------------------------------------------------------------
# A pid file holds "<pid> <start-time-in-clock-ticks>". A process counts as ours only when
# that pid is alive, has the same start time (so a recycled pid never matches) and its
# command line contains the pattern the caller expects. Only such a process is ever killed.

_start_time() { # PID -> field 22 of /proc/PID/stat (robust to spaces in comm)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# pid_of NAME PATTERN : print the pid recorded for NAME if it is still our process.
pid_of() {
  local file="$PIDS/$1.pid" pid start cmdline
  [[ -f $file ]] || return 1
  read -r pid start <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(_start_time "$pid") == "$start" ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]] || return 1
  echo "$pid"
}

# start_bg NAME LOGFILE CMD... : run CMD detached (cwd=ROOT), record its pid, print it.
start_bg() {
  local name=$1 logfile=$2 pid
  shift 2
  mkdir -p "$PIDS" "$(dirname "$logfile")"
  echo "=== $(date '+%F %T') starting: $*" >>"$logfile"
  (cd "$ROOT" && exec nohup "$@" >>"$logfile" 2>&1 </dev/null) &
  pid=$!
  echo "$pid $(_start_time "$pid")" >"$PIDS/$name.pid"
  echo "$pid"
}

# stop_pid NAME PATTERN [TIMEOUT] [SIGNAL] [LAST] : send SIGNAL (TERM) to our process, wait,
# send LAST (KILL) after TIMEOUT seconds.
stop_pid() {
  local name=$1 pattern=$2 timeout=${3:-30} signal=${4:-TERM} last=${5:-KILL} pid deadline
  if ! pid=$(pid_of "$name" "$pattern"); then
    rm -f "$PIDS/$name.pid"
    log "$name: not running"
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -"$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while pid_of "$name" "$pattern" >/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name: still alive after ${timeout}s, sending SIG$last to $pid"
      kill -"$last" "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.3
  done
  rm -f "$PIDS/$name.pid"
  log "$name: stopped"
}

# wait_ready NAME PATTERN TIMEOUT LOGFILE CMD... : poll CMD until it succeeds. Fails (showing
# the log tail) on timeout, or at once if the process NAME has exited meanwhile.
wait_ready() {
  local name=$1 pattern=$2 timeout=$3 logfile=$4 deadline=$((SECONDS + $3))
  shift 4
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" "$pattern" >/dev/null; then
      log "$name exited during startup; last 30 lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name not ready after ${timeout}s; last 30 lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

# elapsed SINCE_SECONDS : "12s" style duration from a $SECONDS snapshot.
elapsed() { echo "$((SECONDS - $1))s"; }
