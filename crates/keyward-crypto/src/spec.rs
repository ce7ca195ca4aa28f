//! The KMS key catalogue as data: which key specs exist, which key usages and algorithms
//! each allows. The lists follow the AWS KMS key spec reference and the `CreateKey` API
//! documentation; SM2 (China Regions only) is not offered.

/// A KMS `KeySpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    SymmetricDefault,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    EccNistEdwards25519,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    Hmac224,
    Hmac256,
    Hmac384,
    Hmac512,
}

const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
const SIGN_VERIFY: &str = "SIGN_VERIFY";
const GENERATE_VERIFY_MAC: &str = "GENERATE_VERIFY_MAC";
const KEY_AGREEMENT: &str = "KEY_AGREEMENT";

const RSA_SIGNING: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
];

impl KeySpec {
    pub const ALL: [KeySpec; 16] = [
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ];

    pub fn parse(wire: &str) -> Option<KeySpec> {
        KeySpec::ALL.into_iter().find(|spec| spec.as_str() == wire)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
            KeySpec::EccNistP521 => "ECC_NIST_P521",
            KeySpec::EccSecgP256k1 => "ECC_SECG_P256K1",
            KeySpec::EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
            KeySpec::MlDsa44 => "ML_DSA_44",
            KeySpec::MlDsa65 => "ML_DSA_65",
            KeySpec::MlDsa87 => "ML_DSA_87",
            KeySpec::Hmac224 => "HMAC_224",
            KeySpec::Hmac256 => "HMAC_256",
            KeySpec::Hmac384 => "HMAC_384",
            KeySpec::Hmac512 => "HMAC_512",
        }
    }

    /// True for key specs whose material is a private key with a public half.
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, KeySpec::SymmetricDefault) && !self.is_hmac()
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512
        )
    }

    /// The `KeyUsage` values AWS allows for this spec. The first is the only one for specs
    /// with a single usage; see [`KeySpec::key_usage_required`] for when `CreateKey` may
    /// omit `KeyUsage` at all.
    pub fn key_usages(self) -> &'static [&'static str] {
        match self {
            KeySpec::SymmetricDefault => &[ENCRYPT_DECRYPT],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                &[ENCRYPT_DECRYPT, SIGN_VERIFY]
            }
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                &[SIGN_VERIFY, KEY_AGREEMENT]
            }
            KeySpec::EccSecgP256k1
            | KeySpec::EccNistEdwards25519
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87 => &[SIGN_VERIFY],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                &[GENERATE_VERIFY_MAC]
            }
        }
    }

    /// Whether `CreateKey` must name a `KeyUsage` for this spec. AWS documents `KeyUsage`
    /// as "optional when you are creating a symmetric encryption KMS key; otherwise, it is
    /// required", and its `ENCRYPT_DECRYPT` default fits no other spec.
    pub fn key_usage_required(self) -> bool {
        self != KeySpec::SymmetricDefault
    }

    pub fn signing_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => RSA_SIGNING,
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &["ECDSA_SHA_256"],
            KeySpec::EccNistP384 => &["ECDSA_SHA_384"],
            KeySpec::EccNistP521 => &["ECDSA_SHA_512"],
            KeySpec::EccNistEdwards25519 => &["ED25519_SHA_512", "ED25519_PH_SHA_512"],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &["ML_DSA_SHAKE_256"],
            KeySpec::SymmetricDefault
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512 => &[],
        }
    }

    pub fn encryption_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::SymmetricDefault => &["SYMMETRIC_DEFAULT"],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            }
            _ => &[],
        }
    }

    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::Hmac224 => &["HMAC_SHA_224"],
            KeySpec::Hmac256 => &["HMAC_SHA_256"],
            KeySpec::Hmac384 => &["HMAC_SHA_384"],
            KeySpec::Hmac512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    pub fn key_agreement_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => &["ECDH"],
            _ => &[],
        }
    }

    /// Length in bytes of generated HMAC key material: AWS's HMAC_224..HMAC_512 keys are
    /// 224..512 bits, the digest length.
    pub(crate) fn hmac_key_len(self) -> Option<usize> {
        match self {
            KeySpec::Hmac224 => Some(28),
            KeySpec::Hmac256 => Some(32),
            KeySpec::Hmac384 => Some(48),
            KeySpec::Hmac512 => Some(64),
            _ => None,
        }
    }
}

/// A `GenerateDataKeyPair` `KeyPairSpec`. SM2 is in AWS's enum but only served in China
/// Regions, and aws-lc-rs has no SM2, so it does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKeyPairSpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    EccNistEdwards25519,
}

impl DataKeyPairSpec {
    pub const ALL: [DataKeyPairSpec; 8] = [
        DataKeyPairSpec::Rsa2048,
        DataKeyPairSpec::Rsa3072,
        DataKeyPairSpec::Rsa4096,
        DataKeyPairSpec::EccNistP256,
        DataKeyPairSpec::EccNistP384,
        DataKeyPairSpec::EccNistP521,
        DataKeyPairSpec::EccSecgP256k1,
        DataKeyPairSpec::EccNistEdwards25519,
    ];

    pub fn parse(wire: &str) -> Option<DataKeyPairSpec> {
        DataKeyPairSpec::ALL
            .into_iter()
            .find(|spec| spec.as_str() == wire)
    }

    pub fn as_str(self) -> &'static str {
        self.key_spec().as_str()
    }

    /// The KMS key spec whose material has the same form.
    pub fn key_spec(self) -> KeySpec {
        match self {
            DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
            DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
            DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
            DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
            DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
            DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
        }
    }
}

impl From<DataKeyPairSpec> for KeySpec {
    fn from(spec: DataKeyPairSpec) -> Self {
        spec.key_spec()
    }
}

/// How `Sign`/`Verify` interpret `Message`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MessageType {
    /// The message itself; the algorithm hashes it.
    Raw,
    /// The message's hash under the algorithm's digest.
    Digest,
    /// ML-DSA's 64-byte message representative mu (FIPS 204).
    ExternalMu,
}

impl MessageType {
    pub fn parse(wire: &str) -> Option<MessageType> {
        match wire {
            "RAW" => Some(MessageType::Raw),
            "DIGEST" => Some(MessageType::Digest),
            "EXTERNAL_MU" => Some(MessageType::ExternalMu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Raw => "RAW",
            MessageType::Digest => "DIGEST",
            MessageType::ExternalMu => "EXTERNAL_MU",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for spec in KeySpec::ALL {
            assert_eq!(KeySpec::parse(spec.as_str()), Some(spec));
        }
        for spec in DataKeyPairSpec::ALL {
            assert_eq!(DataKeyPairSpec::parse(spec.as_str()), Some(spec));
            assert!(KeySpec::from(spec).is_asymmetric());
        }
        for message_type in [
            MessageType::Raw,
            MessageType::Digest,
            MessageType::ExternalMu,
        ] {
            assert_eq!(
                MessageType::parse(message_type.as_str()),
                Some(message_type)
            );
        }
        assert_eq!(KeySpec::parse("SM2"), None);
        assert_eq!(KeySpec::parse("rsa_2048"), None);
        assert_eq!(DataKeyPairSpec::parse("SM2"), None);
        assert_eq!(DataKeyPairSpec::parse("ML_DSA_44"), None);
        assert_eq!(MessageType::parse("raw"), None);
    }

    #[test]
    fn every_spec_has_a_usage_and_algorithms_for_each_usage() {
        for spec in KeySpec::ALL {
            assert!(!spec.key_usages().is_empty(), "{spec:?}");
            for usage in spec.key_usages() {
                let algorithms = match *usage {
                    "ENCRYPT_DECRYPT" => spec.encryption_algorithms(),
                    "SIGN_VERIFY" => spec.signing_algorithms(),
                    "GENERATE_VERIFY_MAC" => spec.mac_algorithms(),
                    "KEY_AGREEMENT" => spec.key_agreement_algorithms(),
                    other => panic!("unknown usage {other}"),
                };
                assert!(!algorithms.is_empty(), "{spec:?} {usage}");
            }
            assert_eq!(
                spec.is_asymmetric(),
                spec != KeySpec::SymmetricDefault && !spec.is_hmac()
            );
        }
    }

    #[test]
    fn catalogue_matches_aws() {
        assert_eq!(
            KeySpec::Rsa3072.key_usages(),
            ["ENCRYPT_DECRYPT", "SIGN_VERIFY"]
        );
        assert_eq!(
            KeySpec::EccNistP384.key_usages(),
            ["SIGN_VERIFY", "KEY_AGREEMENT"]
        );
        assert_eq!(KeySpec::EccSecgP256k1.key_usages(), ["SIGN_VERIFY"]);
        assert_eq!(
            KeySpec::EccSecgP256k1.signing_algorithms(),
            ["ECDSA_SHA_256"]
        );
        assert_eq!(KeySpec::EccNistP521.signing_algorithms(), ["ECDSA_SHA_512"]);
        assert_eq!(KeySpec::Hmac384.mac_algorithms(), ["HMAC_SHA_384"]);
        assert!(KeySpec::EccSecgP256k1.key_agreement_algorithms().is_empty());
        assert!(KeySpec::Rsa2048.key_usage_required());
        assert!(KeySpec::Hmac256.key_usage_required());
        assert!(!KeySpec::SymmetricDefault.key_usage_required());
        assert_eq!(KeySpec::Hmac224.hmac_key_len(), Some(28));
        assert_eq!(KeySpec::Hmac512.hmac_key_len(), Some(64));
    }
}
