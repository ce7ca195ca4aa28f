//! Request quotas like AWS's: a token bucket per account and quota group, checked once the
//! caller is authenticated. A throttled request is answered with the protocol's throttling
//! error (`ThrottlingException`, `Throttling` for IAM and STS), which every AWS SDK retries
//! with backoff.
//!
//! The check is one hash lookup of the operation, one read-locked lookup of the account in
//! one of sixteen shards, and one compare-and-swap on the bucket: no lock is held across
//! requests and no two accounts share a shard lock more than hashing makes them.

mod aws;
mod bucket;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use keyward_core::AccountId;
use keyward_protocol::kms::KmsOperation;

use bucket::{Bucket, Rate};

/// The services whose requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum QuotaService {
    Kms,
    SecretsManager,
    CloudTrail,
    Iam,
    Sts,
}

impl QuotaService {
    const ALL: [Self; 5] = [
        Self::Kms,
        Self::SecretsManager,
        Self::CloudTrail,
        Self::Iam,
        Self::Sts,
    ];

    fn prefix(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::SecretsManager => "secretsmanager",
            Self::CloudTrail => "cloudtrail",
            Self::Iam => "iam",
            Self::Sts => "sts",
        }
    }

    fn supports(self, operation: &str) -> bool {
        let names: &[&str] = match self {
            Self::Kms => KmsOperation::SUPPORTED,
            Self::SecretsManager => {
                keyward_protocol::secretsmanager::SecretsManagerOperation::SUPPORTED
            }
            Self::CloudTrail => keyward_protocol::cloudtrail::CloudTrailOperation::SUPPORTED,
            Self::Iam => keyward_protocol::iam::IamOperation::SUPPORTED,
            Self::Sts => keyward_protocol::sts::StsOperation::SUPPORTED,
        };
        names.contains(&operation)
    }

    fn operations(self) -> &'static [&'static str] {
        match self {
            Self::Kms => KmsOperation::SUPPORTED,
            Self::SecretsManager => {
                keyward_protocol::secretsmanager::SecretsManagerOperation::SUPPORTED
            }
            Self::CloudTrail => keyward_protocol::cloudtrail::CloudTrailOperation::SUPPORTED,
            Self::Iam => keyward_protocol::iam::IamOperation::SUPPORTED,
            Self::Sts => keyward_protocol::sts::StsOperation::SUPPORTED,
        }
    }
}

/// The kind of key a KMS cryptographic operation uses, which AWS counts against separate
/// quotas; `Any` for every other operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Any = 0,
    Symmetric = 1,
    Rsa = 2,
    Ecc = 3,
}

const FAMILIES: usize = 4;

fn algorithm_family(algorithm: Option<&str>) -> Family {
    match algorithm {
        None | Some("SYMMETRIC_DEFAULT") => Family::Symmetric,
        Some(a) if a.starts_with("RSA") => Family::Rsa,
        // ECDSA, SM2 and ML-DSA.
        Some(_) => Family::Ecc,
    }
}

/// The family a decoded KMS request is counted under: the request names its algorithm or
/// key pair spec, and a request whose algorithm does not fit its key fails anyway.
pub(crate) fn kms_family(operation: &KmsOperation) -> Family {
    let encryption = |a: Option<keyward_protocol::kms::EncryptionAlgorithmSpec>| {
        algorithm_family(a.map(|a| a.as_str()))
    };
    match operation {
        KmsOperation::Encrypt(r) => encryption(r.encryption_algorithm),
        KmsOperation::Decrypt(r) => encryption(r.encryption_algorithm),
        KmsOperation::ReEncrypt(r) => {
            match (
                encryption(r.source_encryption_algorithm),
                encryption(r.destination_encryption_algorithm),
            ) {
                (Family::Symmetric, other) => other,
                (family, _) => family,
            }
        }
        KmsOperation::Sign(r) => algorithm_family(Some(r.signing_algorithm.as_str())),
        KmsOperation::Verify(r) => algorithm_family(Some(r.signing_algorithm.as_str())),
        KmsOperation::GenerateDataKeyPair(r) => algorithm_family(Some(r.key_pair_spec.as_str())),
        KmsOperation::GenerateDataKeyPairWithoutPlaintext(r) => {
            algorithm_family(Some(r.key_pair_spec.as_str()))
        }
        KmsOperation::GenerateDataKey(_)
        | KmsOperation::GenerateDataKeyWithoutPlaintext(_)
        | KmsOperation::GenerateMac(_)
        | KmsOperation::VerifyMac(_)
        | KmsOperation::GenerateRandom(_) => Family::Symmetric,
        _ => Family::Any,
    }
}

/// A validated quota table: which operations share which bucket, at what rate. Built from
/// `--quotas aws` or a file; `--quotas off` is no table at all.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaTable {
    groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq)]
struct Group {
    name: String,
    /// Requests per second; `None` is unlimited.
    rate: Option<f64>,
    members: Vec<(QuotaService, String, Family)>,
}

impl QuotaTable {
    /// Parses `--quotas`: `off`, `aws`, or the path of a JSON file.
    pub fn from_setting(setting: &str) -> Result<Option<Self>, String> {
        match setting {
            "off" => Ok(None),
            "aws" => Ok(Some(Self::base(true))),
            path => Self::load(Path::new(path)).map(Some),
        }
    }

    /// Every group of AWS's table, at AWS's rates (`aws`) or unlimited.
    fn base(aws_rates: bool) -> Self {
        let mut groups: Vec<Group> = aws::GROUPS
            .iter()
            .map(|g| Group {
                name: g.name.to_owned(),
                rate: aws_rates.then_some(g.aws_rate),
                members: g
                    .members
                    .iter()
                    .map(|(s, op, f)| (*s, (*op).to_owned(), *f))
                    .collect(),
            })
            .collect();
        for (service, name, rate) in [
            (QuotaService::Iam, aws::IAM_GROUP, aws::IAM_RATE),
            (QuotaService::Sts, aws::STS_GROUP, aws::STS_RATE),
        ] {
            groups.push(Group {
                name: name.to_owned(),
                rate: aws_rates.then_some(rate),
                members: service
                    .operations()
                    .iter()
                    .map(|op| (service, (*op).to_owned(), Family::Any))
                    .collect(),
            });
        }
        Self { groups }
    }

    /// Reads a quota file:
    /// `{"base": "aws" | "none", "limits": {"<group or service:Operation>": <per second> | "unlimited"}}`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the quota file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("quota file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let serde_json::Value::Object(top) = value else {
            return Err("expected a JSON object with \"base\" and \"limits\"".into());
        };
        if let Some(unknown) = top.keys().find(|k| *k != "base" && *k != "limits") {
            return Err(format!(
                "unknown key \"{unknown}\" (expected \"base\" and \"limits\")"
            ));
        }
        let aws_rates = match top.get("base") {
            None => true,
            Some(serde_json::Value::String(s)) if s == "aws" => true,
            Some(serde_json::Value::String(s)) if s == "none" => false,
            Some(other) => {
                return Err(format!(
                    "\"base\" must be \"aws\" (start from AWS's default quotas) or \"none\" \
                     (no quota but those listed), not {other}"
                ))
            }
        };
        let mut table = Self::base(aws_rates);
        let limits = match top.get("limits") {
            None => return Ok(table),
            Some(serde_json::Value::Object(limits)) => limits,
            Some(_) => {
                return Err("\"limits\" must be an object of quota names and rates".into());
            }
        };
        // Groups first, so that splitting an operation out keeps the group's rate.
        let (ops, groups): (Vec<_>, Vec<_>) = limits
            .iter()
            .partition(|(name, _)| !table.groups.iter().any(|g| &g.name == *name));
        for (name, value) in groups.into_iter().chain(ops) {
            let rate = parse_rate(name, value)?;
            table.set(name, rate)?;
        }
        Ok(table)
    }

    fn set(&mut self, name: &str, rate: Option<f64>) -> Result<(), String> {
        if let Some(group) = self.groups.iter_mut().find(|g| g.name == name) {
            group.rate = rate;
            return Ok(());
        }
        let unknown = || {
            format!(
                "\"{name}\" is neither a quota group nor an operation (\"service:Operation\", \
                 such as \"kms:Encrypt\"); the groups are: {}",
                aws::GROUPS
                    .iter()
                    .map(|g| g.name)
                    .filter(|n| !n.contains(':') || n.contains('-'))
                    .chain([aws::IAM_GROUP, aws::STS_GROUP])
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let (prefix, operation) = name.split_once(':').ok_or_else(unknown)?;
        let service = QuotaService::ALL
            .into_iter()
            .find(|s| s.prefix() == prefix)
            .ok_or_else(unknown)?;
        if !service.supports(operation) {
            return Err(unknown());
        }
        // The operation leaves its group (all its key families) for a bucket of its own.
        let mut members = Vec::new();
        for group in &mut self.groups {
            group.members.retain(|m| {
                let hit = m.0 == service && m.1 == operation;
                if hit {
                    members.push(m.clone());
                }
                !hit
            });
        }
        if members.is_empty() {
            members.push((service, operation.to_owned(), Family::Any));
        }
        self.groups.push(Group {
            name: name.to_owned(),
            rate,
            members,
        });
        Ok(())
    }

    /// The rate of the bucket `service:operation` (with a key family) is counted in, for
    /// tests and the log.
    #[cfg(test)]
    fn rate_of(&self, service: QuotaService, operation: &str, family: Family) -> Option<f64> {
        self.groups
            .iter()
            .find(|g| {
                g.members
                    .iter()
                    .any(|m| m.0 == service && m.1 == operation && m.2 == family)
            })
            .and_then(|g| g.rate)
    }

    /// How many groups have a limit, for the start-up log line.
    pub fn limited_groups(&self) -> usize {
        self.groups.iter().filter(|g| g.rate.is_some()).count()
    }
}

fn parse_rate(name: &str, value: &serde_json::Value) -> Result<Option<f64>, String> {
    match value {
        serde_json::Value::String(s) if s == "unlimited" => Ok(None),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(rate) if rate > 0.0 && rate <= 1e9 => Ok(Some(rate)),
            _ => Err(format!(
                "\"{name}\": {n} is not a rate; give requests per second above 0 \
                 (fractions allowed, 0.25 is one request every 4 seconds) or \"unlimited\""
            )),
        },
        other => Err(format!(
            "\"{name}\": {other} is not a rate; give requests per second above 0 or \"unlimited\""
        )),
    }
}

const SHARDS: usize = 16;

/// The running quotas: the table compiled for lookups, and every account's buckets.
pub(crate) struct Quotas {
    rates: Box<[Rate]>,
    /// Per service, per operation name: the bucket of each key family, if limited.
    index: [HashMap<Box<str>, [Option<u16>; FAMILIES]>; 5],
    accounts: [RwLock<HashMap<AccountId, Arc<[Bucket]>>>; SHARDS],
    epoch: Instant,
}

impl Quotas {
    pub(crate) fn new(table: &QuotaTable) -> Self {
        let mut rates = Vec::new();
        let mut index: [HashMap<Box<str>, [Option<u16>; FAMILIES]>; 5] = Default::default();
        for group in &table.groups {
            let Some(rate) = group.rate else { continue };
            let Ok(slot) = u16::try_from(rates.len()) else {
                break; // far more groups than the table can hold
            };
            rates.push(Rate::per_second(rate));
            for (service, operation, family) in &group.members {
                let entry = index[*service as usize]
                    .entry(operation.as_str().into())
                    .or_default();
                entry[*family as usize] = Some(slot);
            }
        }
        Self {
            rates: rates.into(),
            index,
            accounts: Default::default(),
            epoch: Instant::now(),
        }
    }

    /// Takes a token for one request; `false` means throttle it.
    pub(crate) fn admit(
        &self,
        account: &AccountId,
        service: QuotaService,
        operation: &str,
        family: Family,
    ) -> bool {
        let Some(slot) = self.index[service as usize]
            .get(operation)
            .and_then(|slots| slots[family as usize])
        else {
            return true;
        };
        let slot = usize::from(slot);
        let Some(rate) = self.rates.get(slot).copied() else {
            return true;
        };
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let shard = &self.accounts[shard_of(account)];
        {
            let buckets = shard
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(buckets) = buckets.get(account) {
                return buckets.get(slot).is_none_or(|b| b.try_take(rate, now));
            }
        }
        let buckets = {
            let mut all = shard
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            all.entry(account.clone())
                .or_insert_with(|| (0..self.rates.len()).map(|_| Bucket::default()).collect())
                .clone()
        };
        buckets.get(slot).is_none_or(|b| b.try_take(rate, now))
    }
}

fn shard_of(account: &AccountId) -> usize {
    // Account ids are digits: the last two spread them well enough without a hasher.
    let bytes = account.as_str().as_bytes();
    let tail = bytes
        .iter()
        .rev()
        .take(2)
        .fold(0usize, |acc, b| acc * 10 + usize::from(*b));
    tail % SHARDS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use QuotaService::*;

    #[test]
    fn aws_defaults_share_the_symmetric_quota_and_keep_others_apart() {
        let table = QuotaTable::from_setting("aws").unwrap().unwrap();
        assert_eq!(
            table.rate_of(Kms, "Encrypt", Family::Symmetric),
            Some(5500.0)
        );
        assert_eq!(table.rate_of(Kms, "Encrypt", Family::Rsa), Some(500.0));
        assert_eq!(table.rate_of(Kms, "Sign", Family::Ecc), Some(300.0));
        assert_eq!(table.rate_of(Kms, "CreateKey", Family::Any), Some(5.0));
        assert_eq!(
            table.rate_of(SecretsManager, "GetSecretValue", Family::Any),
            Some(10_000.0)
        );
        assert_eq!(table.rate_of(Sts, "AssumeRole", Family::Any), Some(600.0));
        assert!(QuotaTable::from_setting("off").unwrap().is_none());
    }

    #[test]
    fn a_file_sets_groups_and_splits_operations_out() {
        let table = QuotaTable::parse(
            r#"{"base": "none", "limits": {"kms:cryptographic-symmetric": 2,
                "kms:Decrypt": 7, "secretsmanager:GetSecretValue": "unlimited", "iam": 3}}"#,
        )
        .unwrap();
        assert_eq!(table.rate_of(Kms, "Encrypt", Family::Symmetric), Some(2.0));
        assert_eq!(
            table.rate_of(Kms, "GenerateDataKey", Family::Symmetric),
            Some(2.0)
        );
        assert_eq!(table.rate_of(Kms, "Decrypt", Family::Symmetric), Some(7.0));
        assert_eq!(table.rate_of(Kms, "Decrypt", Family::Rsa), Some(7.0));
        assert_eq!(table.rate_of(Kms, "CreateKey", Family::Any), None);
        assert_eq!(
            table.rate_of(SecretsManager, "GetSecretValue", Family::Any),
            None
        );
        assert_eq!(table.rate_of(Iam, "CreateUser", Family::Any), Some(3.0));
        let aws_base = QuotaTable::parse(r#"{"limits": {"kms:CreateKey": 100}}"#).unwrap();
        assert_eq!(aws_base.rate_of(Kms, "CreateKey", Family::Any), Some(100.0));
        assert_eq!(aws_base.rate_of(Kms, "CreateAlias", Family::Any), Some(5.0));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            ("", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"limit": {}}"#, "unknown key \"limit\""),
            (r#"{"base": "all"}"#, "\"base\" must be"),
            (r#"{"limits": []}"#, "\"limits\" must be an object"),
            (r#"{"limits": {"kms:Encrpyt": 5}}"#, "neither a quota group"),
            (r#"{"limits": {"Encrypt": 5}}"#, "neither a quota group"),
            (
                r#"{"limits": {"s3:GetObject": 5}}"#,
                "neither a quota group",
            ),
            (r#"{"limits": {"kms:Encrypt": 0}}"#, "is not a rate"),
            (r#"{"limits": {"kms:Encrypt": -1}}"#, "is not a rate"),
            (r#"{"limits": {"kms:Encrypt": "fast"}}"#, "is not a rate"),
        ];
        for (text, expected) in cases {
            let err = QuotaTable::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let missing = QuotaTable::from_setting("/nonexistent/quotas.json").unwrap_err();
        assert!(missing.contains("cannot read the quota file"), "{missing}");
    }

    #[test]
    fn accounts_have_their_own_buckets_and_unlisted_operations_pass() {
        let table =
            QuotaTable::parse(r#"{"base": "none", "limits": {"kms:cryptographic-symmetric": 2}}"#)
                .unwrap();
        let quotas = Quotas::new(&table);
        let a = AccountId::parse("111111111111").unwrap();
        let b = AccountId::parse("222222222222").unwrap();
        let admitted = |account: &AccountId, op: &str| {
            (0..10)
                .filter(|_| quotas.admit(account, Kms, op, Family::Symmetric))
                .count()
        };
        // The burst is shared by Encrypt and GenerateDataKey, well within a second.
        let first = admitted(&a, "Encrypt") + admitted(&a, "GenerateDataKey");
        assert!((2..=3).contains(&first), "{first}");
        assert!(admitted(&b, "Encrypt") >= 2);
        assert_eq!(admitted(&a, "ListKeys"), 10);
        assert!((0..10).all(|_| quotas.admit(&a, Kms, "Encrypt", Family::Rsa)));
    }

    #[test]
    fn kms_requests_are_counted_by_the_algorithm_they_name() {
        let decode = |op: &str, body: &str| KmsOperation::decode(op, body.as_bytes()).unwrap();
        let blob = "AAAA";
        assert_eq!(
            kms_family(&decode("Encrypt", r#"{"KeyId":"k","Plaintext":"AAAA"}"#)),
            Family::Symmetric
        );
        assert_eq!(
            kms_family(&decode(
                "Decrypt",
                &format!(
                    r#"{{"CiphertextBlob":"{blob}","EncryptionAlgorithm":"RSAES_OAEP_SHA_256","KeyId":"k"}}"#
                )
            )),
            Family::Rsa
        );
        assert_eq!(
            kms_family(&decode(
                "Sign",
                r#"{"KeyId":"k","Message":"AAAA","SigningAlgorithm":"ECDSA_SHA_256"}"#
            )),
            Family::Ecc
        );
        assert_eq!(
            kms_family(&decode(
                "GenerateDataKeyPair",
                r#"{"KeyId":"k","KeyPairSpec":"RSA_2048"}"#
            )),
            Family::Rsa
        );
        assert_eq!(kms_family(&decode("ListKeys", "{}")), Family::Any);
    }
}
