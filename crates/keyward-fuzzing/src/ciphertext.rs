//! The KMS ciphertext blob of symmetric `Encrypt`. The first input byte picks the mode:
//!
//! - even: the rest is a blob as a client sends it to `Decrypt`. Its header parses or is
//!   refused; decrypting it with [`test_material`] either fails or gives a plaintext whose
//!   length the blob's accounts for, and then any one changed byte makes it fail.
//! - odd: the rest is `context\nplaintext` (context as `k=v;k=v`): encrypting it and
//!   decrypting the blob gives the plaintext back, under that context only.

use std::collections::BTreeMap;

use keyward_crypto::{decrypt, encrypt, parse_header, Header, SymmetricMaterial, OVERHEAD};

use crate::input::{flip_one, pairs, split_byte, split_line};

/// The key every blob of the seed corpus was encrypted under (`examples/seeds.rs`).
pub const TEST_MATERIAL: [u8; 32] = [0x4b; 32];
/// The key id in the seed blobs' header.
pub const TEST_KEY_ID: [u8; 16] = *b"keyward-fuzzing!";

/// [`TEST_MATERIAL`] as key material.
pub fn test_material() -> Option<SymmetricMaterial> {
    SymmetricMaterial::from_bytes(&TEST_MATERIAL).ok()
}

/// Runs the mode the first byte picks.
pub fn ciphertext(data: &[u8]) {
    let Some(material) = test_material() else {
        return;
    };
    let (mode, rest) = split_byte(data);
    if mode % 2 == 0 {
        check_blob(&material, rest, usize::from(mode));
    } else {
        let (context, plaintext) = split_line(rest);
        let context: BTreeMap<String, String> = pairs(context).into_iter().collect();
        check_round_trip(&material, &context, plaintext, usize::from(mode));
    }
}

fn check_blob(material: &SymmetricMaterial, blob: &[u8], seed: usize) {
    let header = parse_header(blob);
    if let Ok(header) = header {
        assert!(blob.len() >= OVERHEAD);
        assert_eq!(blob.get(1..17), Some(&header.key_id[..]));
    }
    for context in [
        BTreeMap::new(),
        BTreeMap::from([("purpose".into(), "fuzz".into())]),
    ] {
        let Ok(plaintext) = decrypt(material, blob, &context) else {
            continue;
        };
        assert!(header.is_ok(), "decrypted a blob whose header is refused");
        assert_eq!(plaintext.len() + OVERHEAD, blob.len());
        if let Some(tampered) = flip_one(blob, seed.wrapping_mul(7919) ^ blob.len()) {
            assert!(decrypt(material, &tampered, &context).is_err());
        }
    }
}

fn check_round_trip(
    material: &SymmetricMaterial,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    seed: usize,
) {
    let version = u32::try_from(plaintext.len()).unwrap_or(u32::MAX);
    let blob = encrypt(material, TEST_KEY_ID, version, context, plaintext);
    assert!(blob.is_ok(), "encrypt refused {} bytes", plaintext.len());
    let Ok(blob) = blob else { return };
    assert_eq!(blob.len(), plaintext.len() + OVERHEAD);
    assert_eq!(
        parse_header(&blob).ok(),
        Some(Header {
            key_id: TEST_KEY_ID,
            material_version: version,
        })
    );
    let opened = decrypt(material, &blob, context);
    assert_eq!(
        opened.as_ref().ok().map(|p| p.as_slice()),
        Some(plaintext),
        "round trip"
    );

    let mut other = context.clone();
    match other.pop_first() {
        Some(_) => {}
        None => {
            other.insert("purpose".into(), String::new());
        }
    }
    assert!(decrypt(material, &blob, &other).is_err(), "another context");
    if let Some(tampered) = flip_one(&blob, seed.wrapping_mul(104_729) ^ plaintext.len()) {
        assert!(
            decrypt(material, &tampered, context).is_err(),
            "a changed byte"
        );
    }
}
