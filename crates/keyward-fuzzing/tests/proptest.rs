//! The proptest harness over the fuzz entry points, for machines without nightly and
//! cargo-fuzz (CI among them): each target gets random inputs and inputs mutated from its
//! seed corpus (bytes changed, inserted, removed, the input cut short), a bounded number of
//! cases each. `PROPTEST_CASES` raises the count for a longer run (`scripts/fuzz.sh` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::path::PathBuf;

use proptest::prelude::*;

/// Cases per target when `PROPTEST_CASES` is not set: about a second each in a debug build.
const DEFAULT_CASES: u32 = 8192;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        2 => (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Remove(at, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = data.len();
        match edit {
            Edit::Set(at, b) if len > 0 => data[at % len] = *b,
            Edit::Set(..) => data.push(0),
            Edit::Insert(at, bytes) => {
                let at = at % (len + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(at, n) if len > 0 => {
                let at = at % len;
                data.drain(at..(at + n).min(len));
            }
            Edit::Remove(..) => {}
            Edit::Truncate(at) => data.truncate(at % (len + 1)),
        }
    }
    data
}

/// Random bytes, or a seed with a few edits (most cases: random bytes rarely get past the
/// first check of a structured format).
fn input(target: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "{target}: no seeds");
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        4 => (prop::sample::select(seeds), prop::collection::vec(edit(), 0..4))
            .prop_map(|(seed, edits)| apply(seed, &edits)),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

macro_rules! harness {
    ($($name:ident),* $(,)?) => {$(
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $name(data in input(stringify!($name))) {
                keyward_fuzzing::$name(&data);
            }
        }
    )*};
}

harness!(sigv4, json, query, ciphertext, policy, esdk);

#[test]
fn edits_stay_in_bounds() {
    let data = b"abcdef".to_vec();
    assert_eq!(apply(data.clone(), &[Edit::Set(7, b'X')]), b"aXcdef");
    assert_eq!(
        apply(data.clone(), &[Edit::Insert(6, b"gh".to_vec())]),
        b"abcdefgh"
    );
    assert_eq!(apply(data.clone(), &[Edit::Remove(4, 10)]), b"abcd");
    assert_eq!(apply(data.clone(), &[Edit::Truncate(9)]), b"ab");
    assert_eq!(
        apply(Vec::new(), &[Edit::Remove(0, 1), Edit::Set(3, 1)]),
        [0]
    );
}
