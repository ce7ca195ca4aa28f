//! AWS's default request quotas, as their documentation publishes them (requests per second,
//! per account and Region). Each group is one token bucket; docs/server.md lists the same
//! table for operators.

use super::{Family, QuotaService};

/// The operations a group shares its rate between: an operation, and for the KMS
/// cryptographic operations the kind of key (told by the algorithm or spec in the request).
pub(crate) type Member = (QuotaService, &'static str, Family);

pub(crate) struct GroupDef {
    pub name: &'static str,
    pub aws_rate: f64,
    pub members: &'static [Member],
}

use Family::{Any, Ecc, Rsa, Symmetric};
use QuotaService::{CloudTrail, Kms, SecretsManager};

macro_rules! single {
    ($service:ident, $prefix:literal, $op:literal, $rate:expr) => {
        GroupDef {
            name: concat!($prefix, ":", $op),
            aws_rate: $rate,
            members: &[($service, $op, Any)],
        }
    };
}

pub(crate) const GROUPS: &[GroupDef] = &[
    // KMS: "Cryptographic operations (symmetric) request rate". AWS's figure is 5,500 in most
    // Regions and higher (10,000 to 100,000) in the largest ones.
    GroupDef {
        name: "kms:cryptographic-symmetric",
        aws_rate: 5500.0,
        members: &[
            (Kms, "Encrypt", Symmetric),
            (Kms, "Decrypt", Symmetric),
            (Kms, "ReEncrypt", Symmetric),
            (Kms, "GenerateDataKey", Symmetric),
            (Kms, "GenerateDataKeyWithoutPlaintext", Symmetric),
            (Kms, "GenerateMac", Symmetric),
            (Kms, "VerifyMac", Symmetric),
            (Kms, "GenerateRandom", Symmetric),
        ],
    },
    // "Cryptographic operations (RSA) request rate".
    GroupDef {
        name: "kms:cryptographic-rsa",
        aws_rate: 500.0,
        members: &[
            (Kms, "Encrypt", Rsa),
            (Kms, "Decrypt", Rsa),
            (Kms, "ReEncrypt", Rsa),
            (Kms, "Sign", Rsa),
            (Kms, "Verify", Rsa),
        ],
    },
    // "Cryptographic operations (ECC) request rate"; SM2 and ML-DSA keys count here too.
    GroupDef {
        name: "kms:cryptographic-ecc",
        aws_rate: 300.0,
        members: &[
            (Kms, "Encrypt", Ecc),
            (Kms, "Decrypt", Ecc),
            (Kms, "ReEncrypt", Ecc),
            (Kms, "Sign", Ecc),
            (Kms, "Verify", Ecc),
            (Kms, "DeriveSharedSecret", Any),
        ],
    },
    // AWS rates data key pairs per spec (RSA_2048 1, RSA_3072 0.5, RSA_4096 0.1; ECC_NIST_P256
    // and ECC_SECG_P256K1 25, P384 10, P521 5); Keyward has one bucket per family, at the
    // family's highest rate.
    GroupDef {
        name: "kms:data-key-pairs-rsa",
        aws_rate: 1.0,
        members: &[
            (Kms, "GenerateDataKeyPair", Rsa),
            (Kms, "GenerateDataKeyPairWithoutPlaintext", Rsa),
        ],
    },
    GroupDef {
        name: "kms:data-key-pairs-ecc",
        aws_rate: 25.0,
        members: &[
            (Kms, "GenerateDataKeyPair", Ecc),
            (Kms, "GenerateDataKeyPairWithoutPlaintext", Ecc),
        ],
    },
    single!(Kms, "kms", "CancelKeyDeletion", 5.0),
    single!(Kms, "kms", "CreateAlias", 5.0),
    single!(Kms, "kms", "CreateGrant", 50.0),
    single!(Kms, "kms", "CreateKey", 5.0),
    single!(Kms, "kms", "DeleteAlias", 5.0),
    single!(Kms, "kms", "DeleteImportedKeyMaterial", 5.0),
    single!(Kms, "kms", "DescribeKey", 2000.0),
    single!(Kms, "kms", "DisableKey", 5.0),
    single!(Kms, "kms", "DisableKeyRotation", 5.0),
    single!(Kms, "kms", "EnableKey", 5.0),
    single!(Kms, "kms", "EnableKeyRotation", 5.0),
    single!(Kms, "kms", "GetKeyPolicy", 1000.0),
    single!(Kms, "kms", "GetKeyRotationStatus", 1000.0),
    single!(Kms, "kms", "GetParametersForImport", 0.25),
    single!(Kms, "kms", "GetPublicKey", 2000.0),
    single!(Kms, "kms", "ImportKeyMaterial", 5.0),
    single!(Kms, "kms", "ListAliases", 500.0),
    single!(Kms, "kms", "ListGrants", 100.0),
    single!(Kms, "kms", "ListKeyPolicies", 100.0),
    single!(Kms, "kms", "ListKeyRotations", 100.0),
    single!(Kms, "kms", "ListKeys", 500.0),
    single!(Kms, "kms", "ListResourceTags", 100.0),
    single!(Kms, "kms", "ListRetirableGrants", 100.0),
    single!(Kms, "kms", "PutKeyPolicy", 5.0),
    single!(Kms, "kms", "ReplicateKey", 5.0),
    single!(Kms, "kms", "RetireGrant", 30.0),
    single!(Kms, "kms", "RevokeGrant", 30.0),
    single!(Kms, "kms", "RotateKeyOnDemand", 5.0),
    single!(Kms, "kms", "ScheduleKeyDeletion", 5.0),
    single!(Kms, "kms", "TagResource", 10.0),
    single!(Kms, "kms", "UntagResource", 5.0),
    single!(Kms, "kms", "UpdateAlias", 5.0),
    single!(Kms, "kms", "UpdateKeyDescription", 5.0),
    single!(Kms, "kms", "UpdatePrimaryRegion", 5.0),
    // Secrets Manager.
    single!(SecretsManager, "secretsmanager", "GetSecretValue", 10_000.0),
    single!(SecretsManager, "secretsmanager", "DescribeSecret", 40_000.0),
    single!(
        SecretsManager,
        "secretsmanager",
        "BatchGetSecretValue",
        100.0
    ),
    single!(SecretsManager, "secretsmanager", "ListSecrets", 100.0),
    single!(SecretsManager, "secretsmanager", "CreateSecret", 50.0),
    single!(SecretsManager, "secretsmanager", "DeleteSecret", 50.0),
    single!(SecretsManager, "secretsmanager", "RestoreSecret", 50.0),
    single!(SecretsManager, "secretsmanager", "GetRandomPassword", 50.0),
    single!(
        SecretsManager,
        "secretsmanager",
        "ListSecretVersionIds",
        50.0
    ),
    GroupDef {
        name: "secretsmanager:secret-updates",
        aws_rate: 50.0,
        members: &[
            (SecretsManager, "PutSecretValue", Any),
            (SecretsManager, "UpdateSecret", Any),
            (SecretsManager, "UpdateSecretVersionStage", Any),
            (SecretsManager, "RemoveRegionsFromReplication", Any),
            (SecretsManager, "ReplicateSecretToRegions", Any),
            (SecretsManager, "StopReplicationToReplica", Any),
        ],
    },
    GroupDef {
        name: "secretsmanager:resource-policies",
        aws_rate: 50.0,
        members: &[
            (SecretsManager, "GetResourcePolicy", Any),
            (SecretsManager, "PutResourcePolicy", Any),
            (SecretsManager, "DeleteResourcePolicy", Any),
            (SecretsManager, "ValidateResourcePolicy", Any),
        ],
    },
    GroupDef {
        name: "secretsmanager:rotation",
        aws_rate: 50.0,
        members: &[
            (SecretsManager, "RotateSecret", Any),
            (SecretsManager, "CancelRotateSecret", Any),
        ],
    },
    GroupDef {
        name: "secretsmanager:tagging",
        aws_rate: 50.0,
        members: &[
            (SecretsManager, "TagResource", Any),
            (SecretsManager, "UntagResource", Any),
        ],
    },
    // CloudTrail: LookupEvents, 2 per second per account and Region.
    single!(CloudTrail, "cloudtrail", "LookupEvents", 2.0),
];

/// IAM publishes no per-second quotas and STS one figure (600 per second for its calls per
/// account and Region): each service is one generous group of all its operations.
pub(crate) const IAM_GROUP: &str = "iam";
pub(crate) const IAM_RATE: f64 = 100.0;
pub(crate) const STS_GROUP: &str = "sts";
pub(crate) const STS_RATE: f64 = 600.0;

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_protocol::kms::KmsOperation;
    use keyward_protocol::secretsmanager::SecretsManagerOperation;
    use std::collections::HashSet;

    #[test]
    fn every_member_is_an_operation_of_its_service_and_names_are_unique() {
        let mut names = HashSet::new();
        for group in GROUPS {
            assert!(names.insert(group.name), "{} twice", group.name);
            assert!(group.aws_rate > 0.0);
            for (service, op, _) in group.members {
                assert!(service.supports(op), "{}: {op}", group.name);
            }
        }
    }

    #[test]
    fn every_kms_and_secrets_manager_operation_has_an_aws_quota() {
        let covered: HashSet<(QuotaService, &str)> = GROUPS
            .iter()
            .flat_map(|g| g.members.iter().map(|(s, op, _)| (*s, *op)))
            .collect();
        for op in KmsOperation::SUPPORTED {
            assert!(covered.contains(&(Kms, *op)), "kms:{op}");
        }
        for op in SecretsManagerOperation::SUPPORTED {
            assert!(
                covered.contains(&(SecretsManager, *op)),
                "secretsmanager:{op}"
            );
        }
    }
}
