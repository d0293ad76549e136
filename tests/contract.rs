//! The TypeScript types and JavaScript constants of the package are generated from the Rust
//! types (`localrag::contract`). This test fails when the committed files have drifted from
//! them; `LOCALRAG_WRITE_CONTRACT=1 cargo test --test native contract` rewrites them.

use std::path::PathBuf;

use localrag::contract::{CONSTANTS_PATH, TYPES_PATH, constants, typescript};

fn check(path: &str, want: String) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("LOCALRAG_WRITE_CONTRACT").is_some() {
        std::fs::write(&file, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or(have.lines().count().min(want.lines().count()), |i| i)
            + 1;
        panic!(
            "{path} is not what the Rust types generate (first difference at line {line}); \
             run `LOCALRAG_WRITE_CONTRACT=1 cargo test --test native contract` and commit the result"
        );
    }
}

#[test]
fn typescript_types_match_the_rust_types() {
    check(TYPES_PATH, typescript());
}

#[test]
fn javascript_constants_match_the_rust_ones() {
    check(CONSTANTS_PATH, constants());
}

#[test]
fn every_error_code_is_in_the_generated_files() {
    let ts = typescript();
    let js = constants();
    for code in localrag::Error::CODES {
        assert!(ts.contains(&format!("'{code}'")), "{code} in the types");
        assert!(
            js.contains(&format!("\"{code}\"")),
            "{code} in the constants"
        );
    }
}
