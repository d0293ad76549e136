//! The native integration tests as one binary: one link instead of ten, and the test threads
//! stay busy across suites (a suite's slow last test no longer runs alone). Run one suite with
//! `cargo test --profile native-test --test native generator_models::` (`make test`'s profile;
//! `--release` works too, with a build of its own).

mod common;

#[path = "attribution.rs"]
mod attribution;
#[path = "chunking.rs"]
mod chunking;
#[path = "cli.rs"]
mod cli;
#[path = "contract.rs"]
mod contract;
#[path = "embedder_e5.rs"]
mod embedder_e5;
#[path = "embedder_parity.rs"]
mod embedder_parity;
#[path = "generator.rs"]
mod generator;
#[path = "generator_models.rs"]
mod generator_models;
#[path = "kb.rs"]
mod kb;
#[path = "quant.rs"]
mod quant;
#[path = "recall.rs"]
mod recall;
