#!/usr/bin/env bash
# Runs every Souk test: unit, property, CLI and multi-node tests, from one debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest is missing; installing it" >&2
    cargo install --locked cargo-nextest
fi
exec cargo nextest run --workspace --locked --no-fail-fast "$@"
