//! One cfg for "this build may run rayon on threads": natively always, in wasm only the threaded
//! module (feature `threads`, built with atomics). The parallel kernels test `cfg(parallel)`.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(parallel)");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    let threads = std::env::var_os("CARGO_FEATURE_THREADS").is_some();
    if !wasm || threads {
        println!("cargo::rustc-cfg=parallel");
    }
    // The threaded module: its memory is imported and shared (every pool Worker instantiates
    // the module on the same memory), and wasm-bindgen sets up each thread's stack and
    // thread-locals through these exports. The most it may grow to, 4 GiB, is in the build's
    // RUSTFLAGS (scripts/threads-env.sh).
    if wasm && threads {
        for arg in [
            "--shared-memory",
            "--import-memory",
            "--export=__wasm_init_tls",
            "--export=__tls_size",
            "--export=__tls_align",
            "--export=__tls_base",
        ] {
            println!("cargo::rustc-link-arg-cdylib={arg}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
}
