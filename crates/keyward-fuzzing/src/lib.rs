//! One entry point per parser of untrusted bytes, each taking `&[u8]` and checking only
//! properties that hold for every input: it never panics, rejects are errors, and where a
//! parser has an encoder (or a signer, or an encryptor) the round trip gives back what went
//! in. A property that fails is an `assert!` that fails, which is what a fuzzer reports.
//!
//! The cargo-fuzz targets in `fuzz/` are two-line wrappers over these functions; the
//! proptest harness (`tests/proptest.rs`) and the seed-corpus replay (`tests/corpus.rs`)
//! run them under `cargo nextest` on machines without nightly. `docs/fuzzing.md` lists
//! what each asserts.

mod ciphertext;
mod esdk;
mod input;
mod json;
mod policy;
mod query;
mod sigv4;

pub use ciphertext::ciphertext;
pub use esdk::esdk;
pub use json::json;
pub use policy::policy;
pub use query::query;
pub use sigv4::sigv4;

/// The fixed keys the targets decrypt with, which the seed corpus was made with
/// (`examples/seeds.rs`). Test keys: they protect nothing.
pub mod keys {
    pub use crate::ciphertext::{test_material, TEST_KEY_ID, TEST_MATERIAL};
    pub use crate::esdk::{keyring, KEY_NAME, KEY_NAMESPACE, WRAPPING_KEY};
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every entry point by its target name (the name of its directory in `fuzz/corpus/` and of
/// its cargo-fuzz target).
pub const TARGETS: [(&str, Target); 6] = [
    ("sigv4", sigv4),
    ("json", json),
    ("query", query),
    ("ciphertext", ciphertext),
    ("policy", policy),
    ("esdk", esdk),
];
