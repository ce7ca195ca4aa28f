//! AES-256-GCM with a random nonce: `version(1) ‖ nonce(12) ‖ ciphertext ‖ tag(16)`.
//! Used by the root key to wrap material and by data keys to seal secret values.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::CryptoError;

const SEAL_VERSION: u8 = 1;
pub const KEY_LEN: usize = 32;

/// A 256-bit AES-GCM key. Its bytes are never printed.
pub struct SealingKey {
    key: LessSafeKey,
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce_bytes).map_err(|_| CryptoError::Rng)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce_bytes);
        let mut sealed = Zeroizing::new(plaintext.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut *sealed,
            )
            .map_err(|_| CryptoError::Internal)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed value; any damage, wrong key or wrong AAD is `InvalidCiphertext`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (version, rest) = sealed.split_first().ok_or(CryptoError::InvalidCiphertext)?;
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (nonce_bytes, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes)
            .map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), buffer.as_mut_slice())
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_aad_binding() {
        let key = SealingKey::from_bytes(&[3u8; 32]).unwrap();
        let sealed = key.seal(b"aad", b"value").unwrap();
        assert_eq!(key.open(b"aad", &sealed).unwrap().as_slice(), b"value");
        assert_eq!(
            key.open(b"other", &sealed).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            key.open(b"aad", &flipped).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        assert!(key.open(b"aad", &[]).is_err());
        assert!(SealingKey::from_bytes(&[0u8; 16]).is_err());
    }
}
