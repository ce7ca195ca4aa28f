//! The algorithm suites of the AWS Encryption SDK and the commitment policy that chooses
//! among them.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{aead, digest, hkdf, signature};

/// Message format version: 1 for the suites without key commitment, 2 for the committing
/// ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageVersion {
    V1,
    V2,
}

/// The curve a signing suite signs the whole message with (ECDSA, DER signatures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningCurve {
    P256,
    P384,
}

impl SigningCurve {
    pub(crate) fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::P256 => &digest::SHA256,
            Self::P384 => &digest::SHA384,
        }
    }

    pub(crate) fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    pub(crate) fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        }
    }

    /// Length of a compressed public point (0x02/0x03 prefix and X).
    pub(crate) fn compressed_point_len(self) -> usize {
        match self {
            Self::P256 => 33,
            Self::P384 => 49,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kdf {
    /// The data key is the AES key (the legacy suites 0x0014, 0x0046, 0x0078).
    Identity,
    HkdfSha256,
    HkdfSha384,
    HkdfSha512,
}

impl Kdf {
    pub(crate) fn hkdf(self) -> Option<hkdf::Algorithm> {
        match self {
            Self::Identity => None,
            Self::HkdfSha256 => Some(hkdf::HKDF_SHA256),
            Self::HkdfSha384 => Some(hkdf::HKDF_SHA384),
            Self::HkdfSha512 => Some(hkdf::HKDF_SHA512),
        }
    }
}

/// Every algorithm suite of the message format. All use AES-GCM with 12-byte IVs and
/// 16-byte tags; they differ in key length, key derivation, key commitment and signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlgorithmSuite {
    Aes128GcmIv12Tag16NoKdf,
    Aes192GcmIv12Tag16NoKdf,
    Aes256GcmIv12Tag16NoKdf,
    Aes128GcmIv12Tag16HkdfSha256,
    Aes192GcmIv12Tag16HkdfSha256,
    Aes256GcmIv12Tag16HkdfSha256,
    Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
    Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
    Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
    Aes256GcmHkdfSha512CommitKey,
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

/// Per suite: the id in the header, the official SDKs' name, the key length, the KDF,
/// key commitment and the signing curve.
struct Properties {
    id: u16,
    name: &'static str,
    key_len: usize,
    kdf: Kdf,
    committing: bool,
    curve: Option<SigningCurve>,
}

impl AlgorithmSuite {
    /// Every suite, oldest first.
    pub const ALL: [AlgorithmSuite; 11] = [
        Self::Aes128GcmIv12Tag16NoKdf,
        Self::Aes192GcmIv12Tag16NoKdf,
        Self::Aes256GcmIv12Tag16NoKdf,
        Self::Aes128GcmIv12Tag16HkdfSha256,
        Self::Aes192GcmIv12Tag16HkdfSha256,
        Self::Aes256GcmIv12Tag16HkdfSha256,
        Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
        Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmHkdfSha512CommitKey,
        Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ];

    /// What the official SDKs use when no suite is named, under a policy that requires
    /// commitment.
    pub const DEFAULT_COMMITTING: AlgorithmSuite = Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384;
    /// What the official SDKs used before key commitment (and still do under
    /// `forbid-encrypt-allow-decrypt`).
    pub const DEFAULT_NON_COMMITTING: AlgorithmSuite = Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384;

    fn properties(self) -> Properties {
        use Kdf::*;
        use SigningCurve::*;
        let (id, name, key_len, kdf, committing, curve) = match self {
            Self::Aes128GcmIv12Tag16NoKdf => {
                (0x0014, "AES_128_GCM_IV12_TAG16", 16, Identity, false, None)
            }
            Self::Aes192GcmIv12Tag16NoKdf => {
                (0x0046, "AES_192_GCM_IV12_TAG16", 24, Identity, false, None)
            }
            Self::Aes256GcmIv12Tag16NoKdf => {
                (0x0078, "AES_256_GCM_IV12_TAG16", 32, Identity, false, None)
            }
            Self::Aes128GcmIv12Tag16HkdfSha256 => (
                0x0114,
                "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
                16,
                HkdfSha256,
                false,
                None,
            ),
            Self::Aes192GcmIv12Tag16HkdfSha256 => (
                0x0146,
                "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
                24,
                HkdfSha256,
                false,
                None,
            ),
            Self::Aes256GcmIv12Tag16HkdfSha256 => (
                0x0178,
                "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
                32,
                HkdfSha256,
                false,
                None,
            ),
            Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => (
                0x0214,
                "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
                16,
                HkdfSha256,
                false,
                Some(P256),
            ),
            Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384 => (
                0x0346,
                "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
                24,
                HkdfSha384,
                false,
                Some(P384),
            ),
            Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384 => (
                0x0378,
                "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
                32,
                HkdfSha384,
                false,
                Some(P384),
            ),
            Self::Aes256GcmHkdfSha512CommitKey => (
                0x0478,
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
                32,
                HkdfSha512,
                true,
                None,
            ),
            Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => (
                0x0578,
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
                32,
                HkdfSha512,
                true,
                Some(P384),
            ),
        };
        Properties {
            id,
            name,
            key_len,
            kdf,
            committing,
            curve,
        }
    }

    /// The two-byte id written in the header (0x0578 and so on).
    pub fn id(self) -> u16 {
        self.properties().id
    }

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|suite| suite.id() == id)
    }

    /// The name the official SDKs and CLI use (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`).
    pub fn name(self) -> &'static str {
        self.properties().name
    }

    /// Length of the data key a key provider must produce, and of the AES key.
    pub fn data_key_len(self) -> usize {
        self.properties().key_len
    }

    pub fn is_committing(self) -> bool {
        self.properties().committing
    }

    pub fn signing_curve(self) -> Option<SigningCurve> {
        self.properties().curve
    }

    pub fn message_version(self) -> MessageVersion {
        if self.is_committing() {
            MessageVersion::V2
        } else {
            MessageVersion::V1
        }
    }

    pub(crate) fn kdf(self) -> Kdf {
        self.properties().kdf
    }

    pub(crate) fn aead(self) -> &'static aead::Algorithm {
        match self.data_key_len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            _ => &aead::AES_256_GCM,
        }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AlgorithmSuite {
    type Err = String;

    /// The official name (as the CLI's `--algorithm`), the name with the `_NO_KDF` suffix the
    /// developer guide uses for the three legacy suites, or the id in hex (`0x0578`).
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim();
        if let Some(hex) = wanted
            .strip_prefix("0x")
            .or_else(|| wanted.strip_prefix("0X"))
        {
            if let Some(suite) = u16::from_str_radix(hex, 16).ok().and_then(Self::from_id) {
                return Ok(suite);
            }
        }
        let upper = wanted.to_ascii_uppercase();
        let name = upper.strip_suffix("_NO_KDF").unwrap_or(&upper);
        Self::ALL
            .into_iter()
            .find(|suite| suite.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown algorithm suite '{s}'; one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// Which suites may encrypt and which messages may be decrypted, as in the official SDKs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommitmentPolicy {
    /// Encrypt without key commitment (message format 1); decrypt anything.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with key commitment; decrypt anything.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt with key commitment only: the default.
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    pub fn allows_encrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::ForbidEncryptAllowDecrypt => !suite.is_committing(),
            Self::RequireEncryptAllowDecrypt | Self::RequireEncryptRequireDecrypt => {
                suite.is_committing()
            }
        }
    }

    pub fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::ForbidEncryptAllowDecrypt | Self::RequireEncryptAllowDecrypt => true,
            Self::RequireEncryptRequireDecrypt => suite.is_committing(),
        }
    }

    /// The suite to encrypt with when none is named.
    pub fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => AlgorithmSuite::DEFAULT_NON_COMMITTING,
            Self::RequireEncryptAllowDecrypt | Self::RequireEncryptRequireDecrypt => {
                AlgorithmSuite::DEFAULT_COMMITTING
            }
        }
    }

    /// The official CLI's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::ForbidEncryptAllowDecrypt => "forbid-encrypt-allow-decrypt",
            Self::RequireEncryptAllowDecrypt => "require-encrypt-allow-decrypt",
            Self::RequireEncryptRequireDecrypt => "require-encrypt-require-decrypt",
        }
    }
}

impl fmt::Display for CommitmentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CommitmentPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::ForbidEncryptAllowDecrypt,
            Self::RequireEncryptAllowDecrypt,
            Self::RequireEncryptRequireDecrypt,
        ]
        .into_iter()
        .find(|policy| policy.name() == s)
        .ok_or_else(|| {
            format!("unknown commitment policy '{s}'; one of: forbid-encrypt-allow-decrypt, require-encrypt-allow-decrypt, require-encrypt-require-decrypt")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for suite in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(suite.id()), Some(suite));
            assert_eq!(suite.name().parse::<AlgorithmSuite>(), Ok(suite));
            assert_eq!(
                format!("0x{:04x}", suite.id()).parse::<AlgorithmSuite>(),
                Ok(suite)
            );
        }
        assert_eq!(
            "AES_256_GCM_IV12_TAG16_NO_KDF".parse::<AlgorithmSuite>(),
            Ok(AlgorithmSuite::Aes256GcmIv12Tag16NoKdf)
        );
        assert!("AES_512".parse::<AlgorithmSuite>().is_err());
        assert_eq!(
            AlgorithmSuite::from_id(0x0578),
            Some(AlgorithmSuite::DEFAULT_COMMITTING)
        );
        assert_eq!(AlgorithmSuite::from_id(0x0000), None);
    }

    #[test]
    fn policies() {
        use CommitmentPolicy::*;
        let v1 = AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384;
        let v2 = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
        assert!(ForbidEncryptAllowDecrypt.allows_encrypt(v1));
        assert!(!ForbidEncryptAllowDecrypt.allows_encrypt(v2));
        assert!(ForbidEncryptAllowDecrypt.allows_decrypt(v2));
        assert!(!RequireEncryptAllowDecrypt.allows_encrypt(v1));
        assert!(RequireEncryptAllowDecrypt.allows_decrypt(v1));
        assert!(!RequireEncryptRequireDecrypt.allows_decrypt(v1));
        assert!(RequireEncryptRequireDecrypt.allows_decrypt(v2));
        assert_eq!(CommitmentPolicy::default(), RequireEncryptRequireDecrypt);
        for policy in [
            ForbidEncryptAllowDecrypt,
            RequireEncryptAllowDecrypt,
            RequireEncryptRequireDecrypt,
        ] {
            assert_eq!(policy.name().parse::<CommitmentPolicy>(), Ok(policy));
            assert!(policy.allows_encrypt(policy.default_suite()));
        }
    }
}
