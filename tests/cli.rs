//! The native CLI end to end: JSON lines in, vectors out, errors with a non-zero exit.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use localrag::cosine;

fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_localrag"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn embed_prints_one_vector_per_line() {
    let golden = common::golden();
    let cases = &golden.cases[..6];
    let input: String = cases
        .iter()
        .map(|c| serde_json::to_string(&c.text).unwrap() + "\n")
        .collect();
    let dir = common::model_dir();
    let out = run(
        &[
            "embed",
            "--model-dir",
            dir.to_str().unwrap(),
            "--backend",
            "cpu",
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<f32>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len());
    for (c, v) in cases.iter().zip(&lines) {
        assert!(cosine(&c.embedding, v) >= 0.9999);
    }
}

#[test]
fn embed_reports_bad_input_and_usage() {
    let dir = common::model_dir();
    let dir = dir.to_str().unwrap();
    let out = run(&["embed", "--model-dir", dir], "\"fine\"\nnot json\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    let out = run(&["embed", "--model-dir", dir, "--backend", "tpu"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["embed"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["embed", "--model-dir", "/nonexistent"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E_MODEL_FETCH"));
}
