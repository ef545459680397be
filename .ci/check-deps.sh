#!/usr/bin/env bash
# The protocol and domain crates stay free of I/O runtimes and transports, so the node and the
# simulator run the same code. Fails if one of them gains such a dependency, even indirectly.
set -euo pipefail
cd "$(dirname "$0")/.."
pure_crates=(${PURE_CRATES:-souk-types souk-proto souk-crypto souk-core souk-sim-market})
forbidden='^(tokio|libp2p[a-z0-9_-]*|iroh[a-z0-9_-]*|rusqlite|libsqlite3-sys) '
status=0
for crate in "${pure_crates[@]}"; do
    tree=$(cargo tree --locked -p "$crate" -e normal --prefix none)
    found=$(grep -E "$forbidden" <<<"$tree" | sort -u || true)
    if [[ -n "$found" ]]; then
        echo "error: $crate must not depend on an I/O runtime or transport, but depends on:" >&2
        echo "$found" >&2
        status=1
    fi
done
exit $status
