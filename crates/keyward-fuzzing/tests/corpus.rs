//! Replays every file of the checked-in seed corpus (`fuzz/corpus/<target>/`) through its
//! entry point: the seeds are real requests, policies, blobs and messages, so this is also
//! the quickest check that each entry point still accepts what it should.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_seed_replays_through_its_target() {
    for (name, target) in keyward_fuzzing::TARGETS {
        let dir = corpus_dir(name);
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        seeds.sort();
        assert!(
            seeds.len() >= 3,
            "{name}: a seed corpus of at least three inputs"
        );
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", seed.display());
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_no_other_directory_exists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = keyward_fuzzing::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    targets.sort();
    assert_eq!(dirs, targets);
}
