//! The ciphertext blob of symmetric `Encrypt`:
//!
//! `version(1) ‖ key id(16) ‖ material version(4, big-endian) ‖ salt(32) ‖ nonce(12) ‖
//! ciphertext ‖ tag(16)`
//!
//! Each message gets its own AES-256-GCM key, derived from the backing key with
//! HKDF-SHA256 and a fresh random salt, so no per-key message limit applies. The AAD is the
//! header bytes followed by the canonical encoding of the encryption context, so any
//! change to the header, the context or the body fails authentication.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use zeroize::Zeroizing;

use crate::{CryptoError, SymmetricMaterial};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 16;
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"keyward/v1/symmetric-encrypt";

/// Bytes before the encrypted body.
pub const HEADER_LEN: usize = 1 + KEY_ID_LEN + 4 + SALT_LEN + NONCE_LEN;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// What a blob says about itself before it is authenticated. Only a hint for finding the
/// key: nothing in it is trusted until [`decrypt`] succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub key_id: [u8; KEY_ID_LEN],
    pub material_version: u32,
}

pub fn parse_header(blob: &[u8]) -> Result<Header, CryptoError> {
    if blob.len() < OVERHEAD || blob[0] != VERSION {
        return Err(CryptoError::InvalidCiphertext);
    }
    let key_id: [u8; KEY_ID_LEN] = blob[1..1 + KEY_ID_LEN]
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    let version_bytes: [u8; 4] = blob[1 + KEY_ID_LEN..1 + KEY_ID_LEN + 4]
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    Ok(Header {
        key_id,
        material_version: u32::from_be_bytes(version_bytes),
    })
}

/// Length-prefixed pairs sorted by key: unambiguous, so `{"a":"bc"}` and `{"ab":"c"}`
/// never encode alike.
pub fn canonical_context(context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in context {
        for part in [key.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn message_key(material: &SymmetricMaterial, salt: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(material.expose());
    let okm = prk
        .expand(&[HKDF_INFO], &AES_256_GCM)
        .map_err(|_| CryptoError::Internal)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&canonical_context(context));
    aad
}

pub fn encrypt(
    material: &SymmetricMaterial,
    key_id: [u8; KEY_ID_LEN],
    material_version: u32,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // Salt and nonce in one call: each call to the generator has a fixed cost (it reads
    // the CPU's hardware generator) that was a visible share of Encrypt's time.
    let mut random = [0u8; SALT_LEN + NONCE_LEN];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| CryptoError::Rng)?;
    let (salt, nonce) = random.split_at(SALT_LEN);

    let mut blob = Vec::with_capacity(OVERHEAD + plaintext.len());
    blob.push(VERSION);
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(&material_version.to_be_bytes());
    blob.extend_from_slice(salt);
    blob.extend_from_slice(nonce);
    let aad = aad(&blob, context);

    let key = message_key(material, salt)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Internal)?;
    // Sealed where it lies, after the header: the plaintext is copied once, into the blob.
    blob.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut blob[HEADER_LEN..])
        .map_err(|_| CryptoError::Internal)?;
    blob.extend_from_slice(tag.as_ref());
    Ok(blob)
}

/// Decrypts a blob with the material its header names; the caller resolved that material.
pub fn decrypt(
    material: &SymmetricMaterial,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    parse_header(blob)?;
    let (header, body) = blob.split_at(HEADER_LEN);
    let salt = &header[1 + KEY_ID_LEN + 4..1 + KEY_ID_LEN + 4 + SALT_LEN];
    let nonce = Nonce::try_assume_unique_for_key(&header[HEADER_LEN - NONCE_LEN..])
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    let key = message_key(material, salt)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(
            nonce,
            Aad::from(aad(header, context)),
            buffer.as_mut_slice(),
        )
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn material() -> SymmetricMaterial {
        SymmetricMaterial::from_bytes(&[42u8; 32]).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_is_readable_and_round_trips() {
        let blob = encrypt(&material(), [9u8; 16], 3, &ctx(&[("a", "b")]), b"student").unwrap();
        assert_eq!(blob.len(), OVERHEAD + 7);
        assert_eq!(
            parse_header(&blob).unwrap(),
            Header {
                key_id: [9u8; 16],
                material_version: 3
            }
        );
        assert_eq!(
            decrypt(&material(), &blob, &ctx(&[("a", "b")]))
                .unwrap()
                .as_slice(),
            b"student"
        );
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        assert_ne!(
            canonical_context(&ctx(&[("a", "bc")])),
            canonical_context(&ctx(&[("ab", "c")]))
        );
        let blob = encrypt(&material(), [1u8; 16], 1, &ctx(&[("a", "bc")]), b"x").unwrap();
        assert!(decrypt(&material(), &blob, &ctx(&[("ab", "c")])).is_err());
    }

    #[test]
    fn short_or_foreign_blobs_are_invalid() {
        assert_eq!(
            parse_header(b"").unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        assert_eq!(
            parse_header(&[2u8; 200]).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        let other = SymmetricMaterial::from_bytes(&[1u8; 32]).unwrap();
        let blob = encrypt(&material(), [1u8; 16], 1, &BTreeMap::new(), b"x").unwrap();
        assert_eq!(
            decrypt(&other, &blob, &BTreeMap::new()).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
    }

    fn context_strategy() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..4)
    }

    proptest! {
        #[test]
        fn round_trip(plaintext in proptest::collection::vec(any::<u8>(), 1..512), context in context_strategy(), version in any::<u32>()) {
            let blob = encrypt(&material(), [5u8; 16], version, &context, &plaintext).unwrap();
            let opened = decrypt(&material(), &blob, &context).unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        }

        #[test]
        fn any_flipped_bit_fails(plaintext in proptest::collection::vec(any::<u8>(), 1..64), bit in any::<proptest::sample::Index>()) {
            let context = ctx(&[("LambdaFunctionName", "loadtest")]);
            let mut blob = encrypt(&material(), [5u8; 16], 1, &context, &plaintext).unwrap();
            let bit = bit.index(blob.len() * 8);
            blob[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(decrypt(&material(), &blob, &context).unwrap_err(), CryptoError::InvalidCiphertext);
        }

        #[test]
        fn any_changed_context_fails(plaintext in proptest::collection::vec(any::<u8>(), 1..64), context in context_strategy(), other in context_strategy()) {
            prop_assume!(context != other);
            let blob = encrypt(&material(), [5u8; 16], 1, &context, &plaintext).unwrap();
            prop_assert_eq!(decrypt(&material(), &blob, &other).unwrap_err(), CryptoError::InvalidCiphertext);
        }

        #[test]
        fn parse_header_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_header(&bytes);
            let _ = decrypt(&material(), &bytes, &BTreeMap::new());
        }
    }
}
