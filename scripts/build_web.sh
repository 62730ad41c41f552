#!/usr/bin/env bash
# Builds the web app (review_ui/ -> review_ui/dist, served by the API at /app/): `npm ci` + `npm run build`, with the npm cache
# inside the project (.npm-cache). Skipped when review_ui/dist is newer than every source file and the lockfile.
set -euo pipefail
cd "$(dirname "$0")/../review_ui"
stamp=dist/index.html
if [ -f "$stamp" ] && [ -z "$(find src index.html vite.config.js package.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  echo "web: review_ui/dist is up to date"
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ERROR: node and npm are needed to build the web app (review_ui/): run \`make system\` (installs Debian's nodejs npm)" >&2
  exit 1
fi
start=$(date +%s)
# node_modules is reinstalled only when the lockfile or package.json changed since the last install
if [ -f node_modules/.package-lock.json ] && [ -z "$(find package.json package-lock.json -newer node_modules/.package-lock.json -print -quit)" ]; then
  echo "web: node_modules matches the lockfile"
else
  npm ci --cache ../.npm-cache --no-audit --no-fund --loglevel=error
fi
npm run build --silent
echo "web: built review_ui/dist in $(( $(date +%s) - start )) s"
