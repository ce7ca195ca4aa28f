//! The root key wraps every piece of key material (and every stored access-key secret)
//! before it reaches storage, with AES-256-GCM and the caller's AAD (the key ARN and
//! material version), so a wrapped blob moved to another key or version fails to unwrap.
//! It also keys the fingerprints of imported key material (see [`RootKey::fingerprint`]).

use aws_lc_rs::hkdf::{Prk, HKDF_SHA256};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use crate::aead::SealingKey;
use crate::CryptoError;

pub const ROOT_KEY_LEN: usize = 32;

/// The HKDF salt of imported-material fingerprints: it separates the fingerprint key from
/// any other key that is ever derived from the root key.
const FINGERPRINT_LABEL: &[u8] = b"keyward imported key material fingerprint";

#[derive(Debug)]
pub struct RootKey {
    key: SealingKey,
    /// HKDF-Extract(salt = `FINGERPRINT_LABEL`, IKM = root key bytes). The root bytes
    /// themselves are not reachable through `SealingKey`, so the extract step happens once
    /// here; `Prk` zeroizes on drop and its `Debug` shows no key bytes.
    fingerprint_prk: Prk,
}

impl RootKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = SealingKey::from_bytes(bytes)?;
        // HKDF-Extract is HMAC(salt, IKM) (RFC 5869 §2.2). It is computed here rather than
        // with `Salt::extract`, whose `Prk` would keep a copy of the root bytes themselves
        // for as long as the root key lives.
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, FINGERPRINT_LABEL), bytes);
        Ok(Self {
            key,
            fingerprint_prk: Prk::new_less_safe(HKDF_SHA256, prk.as_ref()),
        })
    }

    /// Fresh root key bytes, for the zero-configuration start.
    pub fn generate_bytes() -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        crate::random_bytes(ROOT_KEY_LEN)
    }

    pub fn wrap(&self, aad: &[u8], material: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(aad, material)
    }

    pub fn unwrap_material(
        &self,
        aad: &[u8],
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.key.open(aad, wrapped).map_err(|_| CryptoError::Unwrap)
    }

    /// A deterministic, keyed fingerprint of imported key material, so that a reimport can
    /// be checked against the material first imported without keeping that material:
    /// `HMAC-SHA256(HKDF-SHA256(IKM = root key, salt = "keyward imported key material
    /// fingerprint", info = context, L = 32), material)`. `context` is the key ARN, so
    /// the same material under two keys has unrelated fingerprints. Being keyed, a stored
    /// fingerprint does not let anyone without the root key test guesses of the material.
    /// The construction is persisted by callers and must never change.
    pub fn fingerprint(&self, context: &[u8], material: &[u8]) -> Result<[u8; 32], CryptoError> {
        let mut key_bytes = Zeroizing::new([0u8; 32]);
        self.fingerprint_prk
            .expand(&[context], hmac::HMAC_SHA256)
            .and_then(|okm| okm.fill(key_bytes.as_mut_slice()))
            .map_err(|_| CryptoError::Internal)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, key_bytes.as_slice());
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&key, material).as_ref());
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip_and_aad_binding() {
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let wrapped = root.wrap(b"arn:1", b"material").unwrap();
        assert_eq!(
            root.unwrap_material(b"arn:1", &wrapped).unwrap().as_slice(),
            b"material"
        );
        assert_eq!(
            root.unwrap_material(b"arn:2", &wrapped).unwrap_err(),
            CryptoError::Unwrap
        );
        let other = RootKey::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(
            other.unwrap_material(b"arn:1", &wrapped).unwrap_err(),
            CryptoError::Unwrap
        );
        assert!(root.unwrap_material(b"arn:1", &wrapped[..5]).is_err());
        assert!(RootKey::from_bytes(&[0u8; 31]).is_err());
    }

    const ARN: &[u8] = b"arn:aws:kms:eu-west-1:111122223333:key/k1";

    /// Pins the construction, which callers persist. The expected value comes from OpenSSL:
    /// `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:0707…07 -kdfopt
    /// salt:"keyward imported key material fingerprint" -kdfopt info:<ARN> HKDF`, then
    /// `printf 'imported material' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<okm>`.
    #[test]
    fn fingerprint_is_standard_hkdf_then_hmac() {
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let expected: [u8; 32] = [
            0x98, 0x3d, 0xd2, 0x30, 0xde, 0x3c, 0x9b, 0xd0, 0x10, 0xfa, 0x2f, 0x0f, 0x30, 0x93,
            0xd2, 0x4f, 0xa6, 0x8e, 0x37, 0xdb, 0x7f, 0x7d, 0x96, 0xe5, 0x8a, 0x96, 0xee, 0xd9,
            0xa8, 0xc1, 0xf3, 0xb1,
        ];
        assert_eq!(
            root.fingerprint(ARN, b"imported material").unwrap(),
            expected
        );
    }

    #[test]
    fn fingerprint_depends_on_root_context_and_material() {
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let base = root.fingerprint(ARN, b"material").unwrap();
        assert_eq!(base, root.fingerprint(ARN, b"material").unwrap());
        assert_eq!(
            base,
            RootKey::from_bytes(&[7u8; 32])
                .unwrap()
                .fingerprint(ARN, b"material")
                .unwrap()
        );
        let others = [
            root.fingerprint(b"arn:aws:kms:eu-west-1:111122223333:key/k2", b"material"),
            root.fingerprint(b"", b"material"),
            root.fingerprint(ARN, b"materiaL"),
            root.fingerprint(ARN, b""),
            RootKey::from_bytes(&[8u8; 32])
                .unwrap()
                .fingerprint(ARN, b"material"),
        ];
        for other in others {
            assert_ne!(base, other.unwrap());
        }
        // Neither the root bytes nor the derived key show up in debug output, in decimal
        // or in hex.
        let debug = format!("{root:?}");
        let prk = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, FINGERPRINT_LABEL),
            &[7u8; 32],
        );
        for secret in [&[7u8; 32][..], prk.as_ref()] {
            let decimal = format!("{:?}", &secret[..4]);
            let hex: String = secret[..4].iter().map(|b| format!("{b:02x}")).collect();
            assert!(!debug.contains(decimal.trim_end_matches(']')), "{debug}");
            assert!(!debug.contains(&hex), "{debug}");
        }
    }
}
