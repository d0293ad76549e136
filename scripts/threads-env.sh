#!/usr/bin/env bash
# The environment of the threaded wasm build (sourced by the Makefile's recipes, or run as a
# prefix: `scripts/threads-env.sh cargo build …`). The standard library is rebuilt with atomics
# (`-Z build-std`, rust-src, on the stable toolchain through RUSTC_BOOTSTRAP), the memory is
# shared and may grow to 4 GiB, and the build has a target directory of its own so that it never
# invalidates the single-threaded build's.
set -euo pipefail
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${THREADS_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/threads}"
export RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals -C link-arg=--max-memory=4294967296'
exec "$@"
