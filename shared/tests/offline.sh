#!/usr/bin/env bash
# The test suite for a reader who is offline on purpose: `cargo test --workspace` with
# RFS_OFFLINE=1, so a test whose model or data is not on disk says `NOT RUN` instead of
# failing, then a count of those tests at the end. Extra arguments go to `cargo test`.
# (Without RFS_OFFLINE, and always under CI, such a test fails and names the command
# that fetches what it needs.)
set -uo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
RFS_OFFLINE=1 RFS_SKIP_LOG="$log" cargo test --workspace "$@"
status=$?
count=$(wc -l < "$log")
echo
echo "== $count test(s) or parts not run (RFS_OFFLINE=1):"
sed 's/^NOT RUN /  /' "$log"
exit $status
