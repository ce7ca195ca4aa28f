//! The one error type of the crate.

use std::io;

use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// A failure to encrypt or decrypt. No variant carries plaintext or key material; the
/// encryption context may be named (it travels in the clear in every message).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    #[error("the message is truncated")]
    Truncated,
    #[error("the message is malformed: {0}")]
    Malformed(&'static str),
    #[error("unsupported message format version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown algorithm suite 0x{0:04x}")]
    UnknownSuite(u16),
    #[error("algorithm suite {suite} is not allowed by commitment policy {policy}")]
    PolicyForbids {
        suite: AlgorithmSuite,
        policy: CommitmentPolicy,
    },
    #[error("the message header is larger than the {0}-byte limit")]
    HeaderTooLarge(usize),
    #[error("the message's frames of {found} bytes exceed the {limit}-byte limit")]
    FrameTooLarge { found: u64, limit: u64 },
    #[error("invalid frame length {0}: it must be between 1 and 2^31 - 1")]
    InvalidFrameLength(u32),
    #[error("the message is too long for its frame length (more than 2^32 - 2 frames)")]
    TooManyFrames,
    #[error("the data key does not match the message's key commitment")]
    CommitmentMismatch,
    #[error("the message header does not authenticate (wrong data key or altered header)")]
    HeaderAuthentication,
    #[error("frame {0} does not authenticate (altered or reordered ciphertext)")]
    FrameAuthentication(u32),
    #[error("the message signature does not verify")]
    Signature,
    #[error("data follows the end of the message")]
    TrailingData,
    #[error("the encryption context key '{0}' is reserved for the AWS Encryption SDK")]
    ReservedContextKey(String),
    #[error("the encryption context is too large to serialize")]
    ContextTooLarge,
    #[error("the encryption context does not match: {0}")]
    ContextMismatch(String),
    #[error("the key provider returned a data key of {found} bytes; the suite needs {expected}")]
    DataKeyLength { found: usize, expected: usize },
    #[error("the key provider returned no encrypted data key")]
    NoEncryptedDataKey,
    #[error("{0}")]
    Provider(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cryptographic operation failed")]
    Crypto,
}

impl Error {
    /// Recovers this crate's error from the `io::Error` that `Read`/`Write` implementations
    /// had to return.
    pub fn from_io(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = err.into_inner() {
                if let Ok(ours) = inner.downcast::<Error>() {
                    return *ours;
                }
                // Unreachable: the check above saw an `Error` inside.
                return Error::Crypto;
            }
            return Error::Crypto;
        }
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return Error::Truncated;
        }
        Error::Io(err)
    }

    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Error::Io(err) => err,
            other => io::Error::other(other),
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::from_io(err)
    }
}

impl From<aws_lc_rs::error::Unspecified> for Error {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Error::Crypto
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
