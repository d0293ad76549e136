#!/usr/bin/env bash
# tap-failures.sh LOG...: the failing tests of node --test TAP logs, each "not ok" line with its
# YAML block (error, expected/actual, stack), so that the end of a long run says what failed.
set -uo pipefail
for log in "$@"; do
  [ -f "$log" ] || continue
  awk -v name="$(basename "$log")" '
    /^ *not ok / { p = 1; n++; print "---- " name ": " $0; next }
    p { print; if ($0 ~ /^ *\.\.\.$/) p = 0 }
    END { if (n) print "---- " name ": " n " failing"; }' "$log"
done
exit 0
