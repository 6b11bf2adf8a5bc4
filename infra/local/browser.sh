#!/usr/bin/env bash
# The console's browser assets and the browser its tests drive, for `make install`:
#   - htmx and axe-core from the npm registry (package.json / package-lock.json at the repo
#     root) into .cache/npm, and htmx vendored into services/console/static (so the console
#     and its Docker image serve it locally, no CDN);
#   - Debian's Chromium at /usr/bin/chromium (apt-get, only when missing), which the
#     Playwright tests launch through executable_path.
# Node/npm come from Debian's packages when missing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NPM_DIR="$ROOT/.cache/npm"
STATIC="$ROOT/services/console/static"

command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if ! cmp -s "$ROOT/package-lock.json" "$NPM_DIR/package-lock.json" ||
  [[ ! -f $NPM_DIR/node_modules/htmx.org/dist/htmx.min.js ]]; then
  mkdir -p "$NPM_DIR"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$NPM_DIR/"
  log "npm ci (htmx, axe-core) into .cache/npm"
  npm ci --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
cmp -s "$NPM_DIR/node_modules/htmx.org/dist/htmx.min.js" "$STATIC/htmx.min.js" ||
  cp "$NPM_DIR/node_modules/htmx.org/dist/htmx.min.js" "$STATIC/htmx.min.js"

[[ -x /usr/bin/chromium ]] || apt_install chromium
