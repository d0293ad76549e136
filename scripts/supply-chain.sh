#!/usr/bin/env bash
# supply-chain.sh (`make test-supply`): what this project takes from crates.io and npm.
#   1. cargo-deny (deny.toml): licences, duplicate versions and bans, sources (crates.io only).
#      From Cargo.lock and the crates' manifests in cargo's cache.
#   2. cargo-deny advisories against RustSec's advisory database, a git repository on GitHub.
#      `cargo deny fetch db` clones or updates it into $LOCALRAG_ADVISORY_DBS (default
#      .cache/advisory-dbs); then the check runs offline on that copy. Where GitHub cannot be
#      reached and no copy is there, as on this project's machines, it is reported NOT RUN.
#   3. scripts/supply-chain-npm.mjs: the test apps' lockfiles (tests/e2e, tests/consumer,
#      tests/bench-tjs: registry sources, integrity, licences, install scripts, pinning), the
#      npm package's own manifest and imports (no dependencies), and `npm audit`, which the
#      registry proxy here refuses (HTTP 405): NOT RUN.
# SUPPLY_CHAIN_STRICT=1: a check NOT RUN fails the run (for machines that reach GitHub and the
# npm audit endpoint). SUPPLY_CHAIN_OFFLINE=1: no network at all (no fetch, no npm audit).
# Exit status 1 on any finding. SUPPLY_CHAIN.md has the evidence for what cannot run here.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
strict=${SUPPLY_CHAIN_STRICT:-0}
offline=${SUPPLY_CHAIN_OFFLINE:-0}
failed=0
summary=()
note() { summary+=("$(printf '  %-40s %s' "$1" "$2")"); }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! command -v cargo-deny >/dev/null; then
  echo "supply-chain: cargo-deny is not installed (make rust-tools)" >&2
  exit 1
fi

# Not --offline unless asked: on a fresh machine cargo-deny's `cargo fetch` brings the crates
# whose manifests it reads (from crates.io; a no-op once `cargo build` has run).
net=()
[ "$offline" = 1 ] && net=(--offline)
echo "== cargo deny: licenses bans sources"
if cargo deny "${net[@]}" --locked check --hide-inclusion-graph licenses bans sources; then
  note "cargo-deny licences, bans, sources" ok
else
  note "cargo-deny licences, bans, sources" FAIL
  failed=1
fi

echo "== cargo deny: advisories"
export LOCALRAG_ADVISORY_DBS=${LOCALRAG_ADVISORY_DBS:-.cache/advisory-dbs}
fetch_err=""
if [ "$offline" = 1 ]; then
  fetch_err="SUPPLY_CHAIN_OFFLINE=1"
elif ! timeout 60 cargo deny fetch db >"$log" 2>&1; then
  fetch_err=$(grep -m1 'fatal:' "$log" || grep -m1 'ERROR' "$log" | sed -E 's/^[0-9-]+ [0-9:]+ //')
  fetch_err=${fetch_err:-$(tail -n1 "$log")}
  echo "supply-chain: could not fetch the RustSec database: $fetch_err"
fi
db=$(ls -d "$LOCALRAG_ADVISORY_DBS"/advisory-db-*/crates 2>/dev/null | head -n1)
if [ -n "$db" ]; then
  db=${db%/crates}
  as_of=$(git -C "$db" log -1 --format=%cs 2>/dev/null || echo unknown)
  echo "RustSec database: $db (last commit $as_of${fetch_err:+; not updated: $fetch_err})"
  if cargo deny --offline --locked check --hide-inclusion-graph advisories; then
    note "cargo-deny advisories" "ok (RustSec as of $as_of)"
  else
    note "cargo-deny advisories" "FAIL (RustSec as of $as_of)"
    failed=1
  fi
else
  echo "supply-chain: no RustSec advisory database in $LOCALRAG_ADVISORY_DBS: advisories NOT RUN"
  if [ "$strict" = 1 ]; then
    note "cargo-deny advisories" "FAIL (not run: $fetch_err)"
    failed=1
  else
    note "cargo-deny advisories" "NOT RUN (no RustSec database: $fetch_err; see SUPPLY_CHAIN.md)"
  fi
fi

echo "== npm: the package, the test apps' lockfiles, npm audit"
node scripts/supply-chain-npm.mjs | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
# The table's rows: "  CHECK  TARGET  STATUS  DETAIL"; npm audit apart from the rest.
if grep -v '^  npm audit ' "$log" | grep -q '  FAIL  '; then
  note "npm lockfiles, licences, package" FAIL
else
  note "npm lockfiles, licences, package" ok
fi
audit_why=$(grep -m1 -E '^  npm audit .*(NOT RUN|not run: )' "$log" | sed -E 's/.*(NOT RUN  |not run: )//; s/registry gave no audit: //' | cut -c1-100)
if grep -E '^  npm audit ' "$log" | grep -v 'not run: ' | grep -q '  FAIL  '; then
  note "npm audit" FAIL
elif [ -n "$audit_why" ] && [ "$strict" = 1 ]; then
  note "npm audit" "FAIL (not run: $audit_why)"
elif [ -n "$audit_why" ]; then
  note "npm audit" "NOT RUN ($audit_why; see SUPPLY_CHAIN.md)"
else
  note "npm audit" ok
fi

echo "== supply chain: $(( $(date +%s) - start )) s"
printf '%s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
  echo "supply-chain: FAILED" >&2
  exit 1
fi
echo "supply-chain: ok"
