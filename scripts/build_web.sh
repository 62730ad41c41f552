#!/usr/bin/env bash
# Builds the web app (web/ -> web/dist, served by the API at /app/): `npm ci` + `npm run build`, with the npm cache
# inside the project (.npm-cache). Skipped when web/dist is newer than every source file and the lockfile.
set -euo pipefail
cd "$(dirname "$0")/../web"
stamp=dist/index.html
if [ -f "$stamp" ] && [ -z "$(find src index.html vite.config.js package.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  echo "web: web/dist is up to date"
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ERROR: node and npm are needed to build the web app (web/): run \`make system\` (installs Debian's nodejs npm)" >&2
  exit 1
fi
start=$(date +%s)
npm ci --cache ../.npm-cache --no-audit --no-fund --loglevel=error
npm run build --silent
echo "web: built web/dist in $(( $(date +%s) - start )) s"
