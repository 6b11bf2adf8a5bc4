#!/usr/bin/env bash
# FerretDB (MongoDB wire protocol) on the local PostgreSQL (postgres.sh), built from source and
# run as a local process.
#
#   infra/local/ferretdb.sh install|start|stop|status
#
# Why not a plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: that binary
# panics at start-up ("Invalid build/version/version.txt"), because version.txt is generated
# at release time and is not part of the Go module. So install copies the module source,
# writes build/version/version.txt and builds cmd/ferretdb from that copy instead.
#
# Go: FerretDB 1.24 needs Go >= 1.24. Debian 12's golang-go is 1.19, too old to build it and
# too old to fetch a newer toolchain by itself, so it is not installed. A Go >= 1.21 found on
# PATH is used (GOTOOLCHAIN=auto upgrades it to the go.mod toolchain when needed); otherwise
# the official toolchain module golang.org/toolchain is downloaded from the Go module proxy
# into .cache/infra/go/ (linux-amd64 only, checksum pinned below).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FERRETDB_LOG="$LOGS/ferretdb.log"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"
GO_TOOLCHAIN="go1.24.3" # the toolchain line of FerretDB v1.24.2's go.mod
GO_TOOLCHAIN_SHA256_AMD64="8a1b88943b81e6ac2e38890b492cf38f848909b867632f48f77caf83608cb107"
GOPROXY_URL="${GOPROXY_URL:-https://proxy.golang.org}"

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOPATH="$CACHE/go"
export GOTOOLCHAIN=auto GOFLAGS=-buildvcs=false CGO_ENABLED=0

# go_minor : minor version of the `go` on PATH (e.g. 26 for go1.26.8), or nothing.
go_minor() {
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  [[ $v =~ ^go1\.([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

ensure_go() {
  local minor dir="$CACHE/go/$GO_TOOLCHAIN"
  minor=$(go_minor || true)
  if [[ -n $minor ]] && ((minor >= 21)); then return 0; fi
  if [[ ! -x $dir/bin/go ]]; then
    [[ $(uname -sm) == "Linux x86_64" ]] || die "need Go >= 1.21 on PATH (no pinned toolchain for $(uname -sm))"
    log "no usable Go on PATH (found: ${minor:+go1.$minor}${minor:-none}); fetching $GO_TOOLCHAIN from the Go module proxy"
    local zip="$CACHE/go/$GO_TOOLCHAIN.zip" tmp="$CACHE/go/.toolchain.tmp"
    mkdir -p "$CACHE/go"
    curl -fsSL -o "$zip" "$GOPROXY_URL/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
    echo "$GO_TOOLCHAIN_SHA256_AMD64  $zip" | sha256sum -c --quiet - || die "checksum mismatch for $zip"
    rm -rf "$tmp" "$dir" && mkdir -p "$tmp"
    if command -v unzip >/dev/null; then unzip -q "$zip" -d "$tmp"; else "$PYTHON" -m zipfile -e "$zip" "$tmp"; fi
    mv "$tmp/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" "$dir"
    chmod -R a+x "$dir/bin" "$dir/pkg/tool"
    rm -rf "$tmp" "$zip"
  fi
  export PATH="$dir/bin:$PATH" GOROOT="$dir"
}

installed() {
  [[ -x $FERRETDB_BIN && $("$FERRETDB_BIN" --version 2>/dev/null) == "version: $FERRETDB_VERSION"$'\n'* ]]
}

install() {
  if installed; then
    log "ferretdb $FERRETDB_VERSION already installed ($FERRETDB_BIN)"
    return 0
  fi
  local t0=$SECONDS src modsrc
  ensure_go
  log "building ferretdb $FERRETDB_VERSION with $(go env GOVERSION) (first build takes a few minutes)"
  modsrc=$(go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $modsrc ]] || die "go mod download did not report a source directory"
  src="$CACHE/ferretdb-src"
  rm -rf "$src"
  cp -r "$modsrc" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  echo "local" >"$src/build/version/package.txt"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  (cd "$src" && go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb)
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$src"
  installed || die "built $FERRETDB_BIN but it does not report version $FERRETDB_VERSION"
  log "ferretdb installed in $(elapsed "$t0")"
}

ping_mongo() {
  "$PYTHON" -c 'import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command("ping")' \
    "mongodb://127.0.0.1:$MONGODB_PORT"
}

start() {
  local t0 pid
  if pid=$(pid_of ferretdb "$FERRETDB_BIN"); then
    log "ferretdb already running (pid $pid, 127.0.0.1:$MONGODB_PORT)"
    return 0
  fi
  if ! installed; then install; fi
  t0=$SECONDS
  ! port_open 127.0.0.1 "$MONGODB_PORT" || die "port $MONGODB_PORT is already in use by another process"
  mkdir -p "$RUN/ferretdb/state"
  # PostgreSQL must be up with FerretDB's guards applied (postgres.sh start does both).
  pid=$(start_bg ferretdb "$FERRETDB_LOG" "$FERRETDB_BIN" \
    --handler=postgresql \
    --postgresql-url="postgres://postgres@127.0.0.1:$POSTGRES_PORT/ferretdb" \
    --state-dir="$RUN/ferretdb/state" \
    --listen-addr="127.0.0.1:$MONGODB_PORT" \
    --debug-addr=- \
    --telemetry=disable \
    --log-level=INFO)
  log "ferretdb starting (pid $pid, log $FERRETDB_LOG)"
  wait_ready ferretdb "$FERRETDB_BIN" 30 "$FERRETDB_LOG" ping_mongo
  log "ferretdb ready on 127.0.0.1:$MONGODB_PORT (started in $(elapsed "$t0"))"
}

stop() { stop_pid ferretdb "$FERRETDB_BIN" 20; }

status() {
  local pid
  if pid=$(pid_of ferretdb "$FERRETDB_BIN"); then
    echo "ferretdb: running (pid $pid, 127.0.0.1:$MONGODB_PORT)"
  else
    echo "ferretdb: stopped"
    return 1
  fi
}

case "${1:-}" in
  install | start | stop | status) "$1" ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
