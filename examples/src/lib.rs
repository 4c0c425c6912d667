//! Runnable examples live beside this file: `cargo run -p coffer-examples --example embed`.
#![forbid(unsafe_code)]
