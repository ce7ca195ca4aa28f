//! The root key wraps every piece of key material (and every stored access-key secret)
//! before it reaches storage, with AES-256-GCM and the caller's AAD (the key ARN and
//! material version), so a wrapped blob moved to another key or version fails to unwrap.

use zeroize::Zeroizing;

use crate::aead::SealingKey;
use crate::CryptoError;

pub const ROOT_KEY_LEN: usize = 32;

#[derive(Debug)]
pub struct RootKey {
    key: SealingKey,
}

impl RootKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            key: SealingKey::from_bytes(bytes)?,
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
