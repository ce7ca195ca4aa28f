//! Key material shared by the tests: one key per spec per test process, since RSA-4096
//! generation takes seconds.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::{generate_material, KeySpec};

static KEYS: [OnceLock<Zeroizing<Vec<u8>>>; KeySpec::ALL.len()] =
    [const { OnceLock::new() }; KeySpec::ALL.len()];

#[allow(clippy::unwrap_used)]
pub(crate) fn material(spec: KeySpec) -> &'static [u8] {
    let index = KeySpec::ALL.iter().position(|s| *s == spec).unwrap();
    KEYS[index].get_or_init(|| generate_material(spec).unwrap())
}
