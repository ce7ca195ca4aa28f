//! The AWS Encryption SDK message format, written natively and streaming: envelope
//! encryption of any size in bounded memory, interoperable with the official SDKs and CLI.
//!
//! A message is a header (suite, message id, encryption context, encrypted data keys,
//! frame length, key commitment, authentication tag), a body of AES-GCM frames, and for the
//! signing suites a footer with an ECDSA signature over everything before it. Format
//! version 2 carries the committing suites (0x0478, 0x0578); version 1 the others.
//!
//! Encrypt: [`EncryptPlan::new`] → data key for [`EncryptPlan::encryption_context`] →
//! [`EncryptPlan::start`] → write plaintext to the [`Encryptor`] → [`Encryptor::finish`].
//! Decrypt: [`Header::read`] → check its context, get the data key → [`Header::open`] →
//! read plaintext from the [`Decryptor`]. [`encrypt`] and [`decrypt`] do both with a
//! synchronous [`DataKeyProvider`].
//!
//! Every parser of message bytes is strict and total: malformed input is an [`Error`], never
//! a panic, and memory stays bounded by [`DecryptOptions`] whatever the header claims.
//! Data keys and plaintext live in `Zeroizing` buffers.

#![forbid(unsafe_code)]

mod context;
mod decrypt;
mod encrypt;
mod error;
mod header;
mod keys;
mod provider;
pub mod raw_aes;
mod suite;
#[cfg(test)]
mod tests;
mod wire;

pub use context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
pub use decrypt::{decrypt, Decrypted, Decryptor};
pub use encrypt::{encrypt, EncryptOptions, EncryptPlan, Encryptor, DEFAULT_FRAME_LENGTH};
pub use error::{Error, Result};
pub use header::{ContentType, DecryptOptions, Header, MAX_FRAME_LENGTH};
pub use provider::{DataKey, DataKeyProvider, EncryptedDataKey, ProviderError};
pub use suite::{AlgorithmSuite, CommitmentPolicy, MessageVersion, SigningCurve};
