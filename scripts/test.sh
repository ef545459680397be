#!/usr/bin/env bash
# Runs every Souk test: unit, property, CLI, multi-node and EVM tests, from one debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest is missing; installing it" >&2
    cargo install --locked cargo-nextest
fi
bash scripts/install-tools.sh
node scripts/compile-contract.js --check
export SOUK_ANVIL="$PWD/.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
exec cargo nextest run --workspace --locked --no-fail-fast "$@"
