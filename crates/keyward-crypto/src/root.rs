//! The root key wraps every piece of key material before it reaches storage.
//!
//! Wrapped form: `version(1) ‖ nonce(12) ‖ AES-256-GCM(material) ‖ tag(16)`, with the
//! caller's AAD (the key ARN and material version) bound in, so a wrapped blob moved to
//! another key or version fails to unwrap.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::CryptoError;

pub const ROOT_KEY_LEN: usize = 32;
const WRAP_VERSION: u8 = 1;

pub struct RootKey {
    key: LessSafeKey,
}

impl RootKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != ROOT_KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Fresh root key bytes, for the zero-configuration start.
    pub fn generate_bytes() -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        crate::random_bytes(ROOT_KEY_LEN)
    }

    pub fn wrap(&self, aad: &[u8], material: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce_bytes).map_err(|_| CryptoError::Rng)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + material.len() + 16);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce_bytes);
        let mut sealed = material.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut sealed,
            )
            .map_err(|_| CryptoError::Internal)?;
        out.extend_from_slice(&sealed);
        sealed.iter_mut().for_each(|b| *b = 0);
        Ok(out)
    }

    pub fn unwrap_material(
        &self,
        aad: &[u8],
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (version, rest) = wrapped.split_first().ok_or(CryptoError::Unwrap)?;
        if *version != WRAP_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Unwrap);
        }
        let (nonce_bytes, sealed) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| CryptoError::Unwrap)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), buffer.as_mut_slice())
            .map_err(|_| CryptoError::Unwrap)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
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
}
