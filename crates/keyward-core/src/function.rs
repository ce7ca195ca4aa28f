//! Lambda functions an account keeps: the configuration, the environment variables sealed
//! under a KMS key, and the code (a zip archive).

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The one version Keyward keeps of a function.
pub const LATEST: &str = "$LATEST";

/// A function's environment variables, encrypted at rest: a data key from KMS (a ciphertext
/// blob under the function's key, `aws/lambda` unless it names one) and the variables, as
/// a JSON object, sealed under that data key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEnvironment {
    pub encrypted_data_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedEnvironment").finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub account: String,
    pub region: String,
    /// Unique per account and region, with case.
    pub name: String,
    pub runtime: String,
    pub handler: String,
    /// The execution role's ARN.
    pub role: String,
    pub description: String,
    /// Seconds.
    pub timeout: u32,
    /// MB.
    pub memory_size: u32,
    /// The customer managed key of the environment, when the function names one.
    pub kms_key_arn: Option<String>,
    pub environment: Option<SealedEnvironment>,
    /// Base64 of the SHA-256 of the zip.
    pub code_sha256: String,
    pub code_size: u64,
    pub last_modified: UnixMillis,
    /// A fresh UUID on every change.
    pub revision_id: String,
    /// The zip archive; stored beside the document, not in it.
    #[serde(skip)]
    pub code: Vec<u8>,
}

impl FunctionRecord {
    /// `arn:aws:lambda:<region>:<account>:function:<name>`.
    pub fn arn(&self) -> String {
        function_arn(&self.region, &self.account, &self.name)
    }
}

pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

impl std::fmt::Debug for FunctionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionRecord")
            .field("arn", &self.arn())
            .field("runtime", &self.runtime)
            .field("code_size", &self.code_size)
            .finish_non_exhaustive()
    }
}
