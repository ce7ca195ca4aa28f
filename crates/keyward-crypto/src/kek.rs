//! The key-encryption key (KEK) of the root of trust: it seals the data root key (the
//! [`crate::RootKey`] that wraps everything else) so that the store holds the root key only
//! in sealed form. A KEK comes from a passphrase through Argon2id, from Shamir shares
//! ([`crate::shamir`]), or is random; the root key it seals never changes when the KEK
//! does, so a rekey touches one record and no wrapped blob.

use zeroize::Zeroizing;

use crate::aead::SealingKey;
use crate::CryptoError;

pub const KEK_LEN: usize = 32;
pub const SALT_LEN: usize = 16;

/// Argon2id cost parameters, stored beside the salt so that a later start derives the same
/// KEK. The defaults follow RFC 9106's second recommendation with one lane: 64 MiB, three
/// passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// The largest cost a stored record may ask for: a damaged or hostile record must not
    /// make a start allocate without bound.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 16;

    pub fn check(&self) -> Result<(), CryptoError> {
        let ok = (8 * self.parallelism..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&self.parallelism);
        if ok {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey)
        }
    }
}

/// A 256-bit key-encryption key. Its bytes are never printed.
pub struct Kek {
    key: SealingKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            key: SealingKey::from_bytes(bytes)?,
        })
    }

    /// Fresh random KEK bytes (for Shamir's split).
    pub fn generate_bytes() -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        crate::random_bytes(KEK_LEN)
    }

    /// Argon2id(passphrase, salt) with `params`, 32 bytes out.
    pub fn from_passphrase(
        passphrase: &[u8],
        salt: &[u8],
        params: Argon2Params,
    ) -> Result<Self, CryptoError> {
        params.check()?;
        let argon_params = argon2::Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(KEK_LEN),
        )
        .map_err(|_| CryptoError::InvalidKey)?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon_params,
        );
        let mut out = Zeroizing::new([0u8; KEK_LEN]);
        argon
            .hash_password_into(passphrase, salt, out.as_mut_slice())
            .map_err(|_| CryptoError::InvalidKey)?;
        Self::from_bytes(out.as_slice())
    }

    /// Seals the root key bytes; `aad` names the kind of seal, so a record cannot be
    /// passed off as another kind's.
    pub fn seal(&self, aad: &[u8], root_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(aad, root_key)
    }

    /// Opens a sealed root key; a wrong KEK, a wrong kind or damage is `Unwrap`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.key.open(aad, sealed).map_err(|_| CryptoError::Unwrap)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn passphrase_kek_is_argon2id_and_opens_only_its_own_seal() {
        // RFC 9106 §5.3 has no vector without secret/ad; this pins our use instead: the
        // same passphrase, salt and costs give the same KEK, anything else another one.
        let salt = [9u8; SALT_LEN];
        let a = Kek::from_passphrase(b"correct horse", &salt, CHEAP).unwrap();
        let sealed = a.seal(b"kind", &[1u8; 32]).unwrap();
        let again = Kek::from_passphrase(b"correct horse", &salt, CHEAP).unwrap();
        assert_eq!(again.open(b"kind", &sealed).unwrap().as_slice(), &[1u8; 32]);
        assert_eq!(
            again.open(b"other", &sealed).unwrap_err(),
            CryptoError::Unwrap
        );
        for wrong in [
            Kek::from_passphrase(b"correct horsE", &salt, CHEAP).unwrap(),
            Kek::from_passphrase(b"correct horse", &[8u8; SALT_LEN], CHEAP).unwrap(),
            Kek::from_passphrase(
                b"correct horse",
                &salt,
                Argon2Params {
                    iterations: 2,
                    ..CHEAP
                },
            )
            .unwrap(),
        ] {
            assert_eq!(
                wrong.open(b"kind", &sealed).unwrap_err(),
                CryptoError::Unwrap
            );
        }
        assert_eq!(format!("{a:?}"), "Kek(..)");
    }

    #[test]
    fn absurd_costs_are_refused_before_any_work() {
        let salt = [0u8; SALT_LEN];
        for params in [
            Argon2Params {
                memory_kib: Argon2Params::MAX_MEMORY_KIB + 1,
                ..CHEAP
            },
            Argon2Params {
                iterations: 0,
                ..CHEAP
            },
            Argon2Params {
                parallelism: 0,
                ..CHEAP
            },
            Argon2Params {
                iterations: u32::MAX,
                ..CHEAP
            },
        ] {
            assert!(Kek::from_passphrase(b"p", &salt, params).is_err());
        }
        assert!(Argon2Params::default().check().is_ok());
    }
}
