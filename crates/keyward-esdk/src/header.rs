//! The message header: serialization for encryption, strict parsing for decryption.
//!
//! Version 1: version 0x01, type 0x80, suite id, 16-byte message id, AAD length and
//! encryption context, encrypted data keys, content type, 4 reserved zero bytes, IV length,
//! frame length; then the header authentication: IV and tag.
//! Version 2: version 0x02, suite id, 32-byte message id, AAD length and encryption context,
//! encrypted data keys, content type, frame length, 32 bytes of commitment; then the tag
//! (the IV is implicitly zero).

use std::io::Read;

use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::error::{Error, Result};
use crate::keys::{IV_LEN, TAG_LEN};
use crate::provider::EncryptedDataKey;
use crate::suite::{AlgorithmSuite, CommitmentPolicy, MessageVersion};
use crate::wire::{read_exact, RecordingReader};

pub(crate) const COMMITMENT_LEN: usize = 32;
const V1_TYPE_CUSTOMER_AED: u8 = 0x80;
/// The largest frame any official SDK writes (2^31 - 1).
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;

/// How the body is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// One block of at most 2^36 - 32 bytes (decryption only here).
    NonFramed,
    /// Frames of this many bytes, then a final frame of fewer or as many.
    Framed(u32),
}

/// A parsed (or about to be written) header, before it is authenticated.
#[derive(Clone, Debug)]
pub struct Header {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: Vec<u8>,
    pub(crate) context: EncryptionContext,
    pub(crate) encrypted_data_keys: Vec<EncryptedDataKey>,
    pub(crate) content: ContentType,
    /// The commitment to the data key (version 2).
    pub(crate) commitment: Option<[u8; COMMITMENT_LEN]>,
    /// The serialized header fields: the AAD of the header authentication.
    pub(crate) bytes: Vec<u8>,
    /// Version 1's header authentication IV (version 2's is zero).
    pub(crate) auth_iv: [u8; IV_LEN],
    pub(crate) auth_tag: [u8; TAG_LEN],
}

impl Header {
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    pub fn message_id(&self) -> &[u8] {
        &self.message_id
    }

    /// The whole encryption context, including `aws-crypto-public-key` for signing suites.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    pub fn content_type(&self) -> ContentType {
        self.content
    }

    /// Serializes the header fields (without authentication) into `self.bytes`.
    pub(crate) fn serialize_fields(&mut self) -> Result<()> {
        let context = self.context.serialize()?;
        let mut out = Vec::with_capacity(128 + context.len());
        let version = self.suite.message_version();
        match version {
            MessageVersion::V1 => out.extend_from_slice(&[0x01, V1_TYPE_CUSTOMER_AED]),
            MessageVersion::V2 => out.push(0x02),
        }
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        let context_len = u16::try_from(context.len()).map_err(|_| Error::ContextTooLarge)?;
        out.extend_from_slice(&context_len.to_be_bytes());
        out.extend_from_slice(&context);
        let count = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| Error::Malformed("more than 65535 encrypted data keys"))?;
        if count == 0 {
            return Err(Error::NoEncryptedDataKey);
        }
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.encrypted_data_keys {
            for field in [
                edk.provider_id.as_bytes(),
                edk.provider_info.as_slice(),
                edk.ciphertext.as_slice(),
            ] {
                let len = u16::try_from(field.len()).map_err(|_| {
                    Error::Malformed("an encrypted data key field exceeds 65535 bytes")
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(field);
            }
        }
        let frame_length = match self.content {
            ContentType::NonFramed => {
                out.push(0x01);
                0
            }
            ContentType::Framed(length) => {
                out.push(0x02);
                length
            }
        };
        if version == MessageVersion::V1 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.push(IV_LEN as u8);
        }
        out.extend_from_slice(&frame_length.to_be_bytes());
        if version == MessageVersion::V2 {
            let commitment = self.commitment.ok_or(Error::Crypto)?;
            out.extend_from_slice(&commitment);
        }
        self.bytes = out;
        Ok(())
    }

    /// The header authentication as written after the fields.
    pub(crate) fn auth_bytes(&self) -> Vec<u8> {
        match self.suite.message_version() {
            MessageVersion::V1 => [&self.auth_iv[..], &self.auth_tag[..]].concat(),
            MessageVersion::V2 => self.auth_tag.to_vec(),
        }
    }

    /// Reads and validates a header and its authentication (not yet checked: that needs
    /// the data key). Refuses suites the policy does not allow before any key is asked for.
    pub fn read<R: Read>(input: &mut R, options: &DecryptOptions) -> Result<Header> {
        let mut reader = RecordingReader::new(input, options.max_header_len);
        let version = match reader.u8()? {
            0x01 => MessageVersion::V1,
            0x02 => MessageVersion::V2,
            other => return Err(Error::UnsupportedVersion(other)),
        };
        if version == MessageVersion::V1 && reader.u8()? != V1_TYPE_CUSTOMER_AED {
            return Err(Error::Malformed("unknown message type"));
        }
        let suite_id = reader.u16()?;
        let suite = AlgorithmSuite::from_id(suite_id).ok_or(Error::UnknownSuite(suite_id))?;
        if suite.message_version() != version {
            return Err(Error::Malformed(
                "the algorithm suite does not belong to this message format version",
            ));
        }
        if !options.commitment_policy.allows_decrypt(suite) {
            return Err(Error::PolicyForbids {
                suite,
                policy: options.commitment_policy,
            });
        }
        let message_id = reader
            .take(match version {
                MessageVersion::V1 => 16,
                MessageVersion::V2 => 32,
            })?
            .to_vec();
        let context = EncryptionContext::parse(&reader.prefixed16()?)?;
        match (suite.signing_curve(), context.get(PUBLIC_KEY_FIELD)) {
            (Some(_), None) => {
                return Err(Error::Malformed(
                    "a signing suite's encryption context has no public key",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::Malformed(
                    "an unsigned suite's encryption context holds a public key",
                ))
            }
            _ => {}
        }
        let count = reader.u16()?;
        if count == 0 {
            return Err(Error::Malformed("the message has no encrypted data key"));
        }
        if options
            .max_encrypted_data_keys
            .is_some_and(|max| count > max)
        {
            return Err(Error::Malformed("too many encrypted data keys"));
        }
        let mut encrypted_data_keys = Vec::with_capacity(usize::from(count.min(16)));
        for _ in 0..count {
            let provider_id = String::from_utf8(reader.prefixed16()?)
                .map_err(|_| Error::Malformed("a key provider id is not UTF-8"))?;
            let provider_info = reader.prefixed16()?;
            let ciphertext = reader.prefixed16()?;
            encrypted_data_keys.push(EncryptedDataKey {
                provider_id,
                provider_info,
                ciphertext,
            });
        }
        let content_type = reader.u8()?;
        if version == MessageVersion::V1 {
            if reader.u32()? != 0 {
                return Err(Error::Malformed("the reserved field is not zero"));
            }
            if usize::from(reader.u8()?) != IV_LEN {
                return Err(Error::Malformed("the IV length does not match the suite"));
            }
        }
        let frame_length = reader.u32()?;
        let content = match content_type {
            0x01 if frame_length == 0 => ContentType::NonFramed,
            0x01 => return Err(Error::Malformed("a non-framed message has a frame length")),
            0x02 if frame_length == 0 || frame_length > MAX_FRAME_LENGTH => {
                return Err(Error::InvalidFrameLength(frame_length))
            }
            0x02 => {
                if u64::from(frame_length) > options.max_frame_len {
                    return Err(Error::FrameTooLarge {
                        found: u64::from(frame_length),
                        limit: options.max_frame_len,
                    });
                }
                ContentType::Framed(frame_length)
            }
            _ => return Err(Error::Malformed("unknown content type")),
        };
        let commitment = match version {
            MessageVersion::V1 => None,
            MessageVersion::V2 => {
                let mut commitment = [0u8; COMMITMENT_LEN];
                commitment.copy_from_slice(reader.take(COMMITMENT_LEN)?);
                Some(commitment)
            }
        };
        debug_assert!(reader.recorded_len() <= options.max_header_len);
        let bytes = reader.into_recorded();
        let mut auth_iv = [0u8; IV_LEN];
        if version == MessageVersion::V1 {
            read_exact(input, &mut auth_iv)?;
        }
        let mut auth_tag = [0u8; TAG_LEN];
        read_exact(input, &mut auth_tag)?;
        Ok(Header {
            suite,
            message_id,
            context,
            encrypted_data_keys,
            content,
            commitment,
            bytes,
            auth_iv,
            auth_tag,
        })
    }
}

/// Limits and policy for decryption.
#[derive(Clone, Debug)]
pub struct DecryptOptions {
    pub commitment_policy: CommitmentPolicy,
    /// The largest header accepted (the header is held in memory to authenticate it).
    pub max_header_len: usize,
    /// The largest frame, or non-framed body, accepted: each is decrypted whole in memory
    /// before any of it is released.
    pub max_frame_len: u64,
    /// At most this many encrypted data keys in a header (`None`: the format's 65535).
    pub max_encrypted_data_keys: Option<u16>,
    /// Refuse bytes after the end of the message.
    pub reject_trailing_data: bool,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        Self {
            commitment_policy: CommitmentPolicy::default(),
            max_header_len: 1 << 20,
            max_frame_len: 64 << 20,
            max_encrypted_data_keys: None,
            reject_trailing_data: true,
        }
    }
}
