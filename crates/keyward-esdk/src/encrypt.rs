//! Encryption: a plan (suite, frame length, context, signing key), then a streaming
//! [`Encryptor`] that writes the header at once and a frame whenever one is full.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
use crate::error::{Error, Result};
use crate::header::{ContentType, Header, MAX_FRAME_LENGTH};
use crate::keys::{frame_iv, BodyPart, MessageKey, Signer, IV_LEN};
use crate::provider::{DataKey, DataKeyProvider};
use crate::suite::{AlgorithmSuite, CommitmentPolicy, MessageVersion};

/// The official SDKs' default frame length.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// The sequence-number field's value that marks the final frame.
pub(crate) const FINAL_FRAME_MARKER: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct EncryptOptions {
    /// `None`: the policy's default (0x0578, or 0x0378 when commitment is forbidden).
    pub suite: Option<AlgorithmSuite>,
    pub frame_length: u32,
    pub commitment_policy: CommitmentPolicy,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
            commitment_policy: CommitmentPolicy::default(),
        }
    }
}

/// Everything about a message that is decided before its data key exists.
pub struct EncryptPlan {
    suite: AlgorithmSuite,
    frame_length: u32,
    context: EncryptionContext,
    signer: Option<Signer>,
}

impl EncryptPlan {
    /// Checks the options against the policy and, for signing suites, makes the message's
    /// signing key and adds its public half to the context.
    pub fn new(options: &EncryptOptions, context: EncryptionContext) -> Result<Self> {
        let suite = options
            .suite
            .unwrap_or(options.commitment_policy.default_suite());
        if !options.commitment_policy.allows_encrypt(suite) {
            return Err(Error::PolicyForbids {
                suite,
                policy: options.commitment_policy,
            });
        }
        if options.frame_length == 0 || options.frame_length > MAX_FRAME_LENGTH {
            return Err(Error::InvalidFrameLength(options.frame_length));
        }
        if let Some((key, _)) = context.iter().find(|(k, _)| k.starts_with(RESERVED_PREFIX)) {
            return Err(Error::ReservedContextKey(key.to_owned()));
        }
        let mut context = context;
        let signer = match suite.signing_curve() {
            Some(curve) => {
                let signer = Signer::generate(curve)?;
                context.insert_reserved(PUBLIC_KEY_FIELD, signer.public_key_base64()?);
                Some(signer)
            }
            None => None,
        };
        context.serialize()?;
        Ok(Self {
            suite,
            frame_length: options.frame_length,
            context,
            signer,
        })
    }

    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The context the data key must be bound to (with the public key of signing suites).
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Writes the header under `data_key` and returns the encryptor for the body.
    pub fn start<W: Write>(self, data_key: DataKey, mut output: W) -> Result<Encryptor<W>> {
        if data_key.encrypted().is_empty() {
            return Err(Error::NoEncryptedDataKey);
        }
        let mut message_id = vec![
            0u8;
            match self.suite.message_version() {
                MessageVersion::V1 => 16,
                MessageVersion::V2 => 32,
            }
        ];
        aws_lc_rs::rand::fill(&mut message_id)?;
        let (key, commitment) = MessageKey::derive(self.suite, data_key.plaintext(), &message_id)?;
        let mut header = Header {
            suite: self.suite,
            message_id,
            context: self.context,
            encrypted_data_keys: data_key.into_encrypted(),
            content: ContentType::Framed(self.frame_length),
            commitment: commitment.map(|c| *c),
            bytes: Vec::new(),
            auth_iv: [0u8; IV_LEN],
            auth_tag: [0u8; 16],
        };
        header.serialize_fields()?;
        header.auth_tag = key.header_tag(header.auth_iv, &header.bytes)?;
        let mut signer = self.signer;
        let auth = header.auth_bytes();
        for part in [&header.bytes[..], &auth[..]] {
            output.write_all(part).map_err(Error::Io)?;
            if let Some(signer) = signer.as_mut() {
                signer.update(part);
            }
        }
        let frame_length = usize::try_from(self.frame_length).map_err(|_| Error::Crypto)?;
        Ok(Encryptor {
            output,
            key,
            frame_length,
            pending: Zeroizing::new(Vec::with_capacity(frame_length)),
            seq: 1,
            signer,
            failed: false,
        })
    }
}

/// Takes plaintext through `Write` and writes the message. Call [`Encryptor::finish`]
/// at the end: without it the message has no final frame and will not decrypt.
pub struct Encryptor<W: Write> {
    output: W,
    key: MessageKey,
    frame_length: usize,
    /// Plaintext waiting for its frame to fill.
    pending: Zeroizing<Vec<u8>>,
    seq: u32,
    signer: Option<Signer>,
    failed: bool,
}

impl<W: Write> Encryptor<W> {
    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.output.write_all(bytes).map_err(Error::Io)?;
        if let Some(signer) = self.signer.as_mut() {
            signer.update(bytes);
        }
        Ok(())
    }

    fn next_seq(&mut self) -> Result<u32> {
        if self.seq == FINAL_FRAME_MARKER {
            return Err(Error::TooManyFrames);
        }
        let seq = self.seq;
        self.seq += 1;
        Ok(seq)
    }

    /// Seals the pending plaintext as frame `seq` and writes it.
    fn emit_frame(&mut self, final_frame: bool) -> Result<()> {
        let seq = self.next_seq()?;
        let iv = frame_iv(seq);
        let part = if final_frame {
            BodyPart::FinalFrame
        } else {
            BodyPart::Frame
        };
        let mut sealed = std::mem::take(&mut self.pending);
        let tag = self.key.seal(part, seq, iv, &mut sealed)?;
        let mut head = Vec::with_capacity(24);
        if final_frame {
            head.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        }
        head.extend_from_slice(&seq.to_be_bytes());
        head.extend_from_slice(&iv);
        if final_frame {
            let len = u32::try_from(sealed.len()).map_err(|_| Error::Crypto)?;
            head.extend_from_slice(&len.to_be_bytes());
        }
        self.emit(&head)?;
        self.emit(&sealed)?;
        self.emit(&tag)?;
        sealed.clear();
        self.pending = sealed;
        Ok(())
    }

    fn accept(&mut self, data: &[u8]) -> Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.frame_length - self.pending.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.pending.extend_from_slice(now);
            rest = later;
            // A full frame is a regular frame: the final frame is always shorter (the
            // Python SDK refuses a final frame as long as the frame length), so an input
            // that is a multiple of the frame length ends with an empty final frame.
            if self.pending.len() == self.frame_length {
                self.emit_frame(false)?;
            }
        }
        Ok(())
    }

    /// Writes the final frame and, for signing suites, the signature; returns the output.
    pub fn finish(mut self) -> Result<W> {
        if self.failed {
            return Err(Error::Io(io::Error::other("an earlier write failed")));
        }
        self.emit_frame(true)?;
        if let Some(signer) = self.signer.take() {
            let signature = signer.sign()?;
            let len = u16::try_from(signature.len()).map_err(|_| Error::Crypto)?;
            self.output
                .write_all(&len.to_be_bytes())
                .map_err(Error::Io)?;
            self.output.write_all(&signature).map_err(Error::Io)?;
        }
        self.output.flush().map_err(Error::Io)?;
        Ok(self.output)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write failed"));
        }
        match self.accept(data) {
            Ok(()) => Ok(data.len()),
            Err(err) => {
                self.failed = true;
                Err(err.into_io())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}

/// Encrypts all of `input` into `output` with a data key from `provider`; returns the
/// output.
pub fn encrypt<P, R, W>(
    provider: &P,
    options: &EncryptOptions,
    context: EncryptionContext,
    mut input: R,
    output: W,
) -> Result<W>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
    W: Write,
{
    let plan = EncryptPlan::new(options, context)?;
    let data_key = provider
        .generate(plan.suite(), plan.encryption_context())
        .map_err(Error::Provider)?;
    let mut encryptor = plan.start(data_key, output)?;
    io::copy(&mut input, &mut encryptor).map_err(Error::from_io)?;
    encryptor.finish()
}
