use zeroize::Zeroizing;

use crate::CryptoError;

/// Length of symmetric (`SYMMETRIC_DEFAULT`) backing key material.
pub const MATERIAL_LEN: usize = 32;

/// The 256-bit backing key of a symmetric KMS key. Never printed, zeroized on drop.
#[derive(Clone)]
pub struct SymmetricMaterial(Zeroizing<[u8; MATERIAL_LEN]>);

impl SymmetricMaterial {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; MATERIAL_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; MATERIAL_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        Ok(Self(Zeroizing::new(array)))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl std::fmt::Debug for SymmetricMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricMaterial(..)")
    }
}

/// `n` bytes from the system's cryptographic random generator, in a zeroizing buffer.
pub fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(out.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
    Ok(out)
}
