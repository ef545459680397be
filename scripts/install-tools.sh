#!/usr/bin/env bash
# Installs the pinned test tools (anvil, a local EVM chain, and solc-js) into .tools/, from
# scripts/tools/package-lock.json. Does nothing when they are already installed at these pins.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "npm is missing; installing Node.js and npm from Debian" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "npm is missing: install Node.js and npm (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
fi
stamp=.tools/installed.lock
if [ -f "$stamp" ] && cmp -s "$stamp" scripts/tools/package-lock.json \
    && [ -x .tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ]; then
    exit 0
fi
mkdir -p .tools
cp scripts/tools/package.json scripts/tools/package-lock.json .tools/
(cd .tools && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
cp scripts/tools/package-lock.json "$stamp"
echo "installed anvil and solc-js into .tools/" >&2
