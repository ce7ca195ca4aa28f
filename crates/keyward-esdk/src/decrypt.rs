//! Decryption: after [`Header::read`] and the data key, a streaming [`Decryptor`] that
//! releases each frame only once it has authenticated, and reports the end of the plaintext
//! only once the whole message has (final frame, signature, nothing after it).

use std::io::{self, Read, Write};

use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::encrypt::FINAL_FRAME_MARKER;
use crate::error::{Error, Result};
use crate::header::{ContentType, DecryptOptions, Header};
use crate::keys::{check_commitment, BodyPart, MessageKey, Verifier, IV_LEN, TAG_LEN};
use crate::provider::DataKeyProvider;
use crate::suite::AlgorithmSuite;
use crate::wire::{read_exact, read_exactly_into};
use zeroize::Zeroizing;

/// The largest non-framed body the format allows (AES-GCM's limit, 2^36 - 32 bytes).
const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;

impl Header {
    /// Checks the data key against the header (key commitment, then the header's
    /// authentication tag) and returns the decryptor of the body that follows in `input`.
    pub fn open<R: Read>(
        self,
        data_key: &[u8],
        input: R,
        options: &DecryptOptions,
    ) -> Result<Decryptor<R>> {
        let (key, commitment) = MessageKey::derive(self.suite, data_key, &self.message_id)?;
        match (&commitment, &self.commitment) {
            (Some(derived), Some(stored)) => check_commitment(derived, stored)?,
            (None, None) => {}
            _ => return Err(Error::Crypto),
        }
        key.verify_header(self.auth_iv, &self.bytes, &self.auth_tag)?;
        let verifier = match self.suite.signing_curve() {
            Some(curve) => {
                let public_key = self.context.get(PUBLIC_KEY_FIELD).ok_or(Error::Malformed(
                    "a signing suite's encryption context has no public key",
                ))?;
                let mut verifier = Verifier::new(curve, public_key)?;
                verifier.update(&self.bytes);
                verifier.update(&self.auth_bytes());
                Some(verifier)
            }
            None => None,
        };
        Ok(Decryptor {
            input,
            key,
            suite: self.suite,
            context: self.context,
            content: self.content,
            next_seq: 1,
            buffer: Zeroizing::new(Vec::new()),
            released: 0,
            plaintext_len: 0,
            verifier,
            state: State::Body,
            max_frame_len: options.max_frame_len,
            reject_trailing_data: options.reject_trailing_data,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Body,
    /// The whole message verified: what is left in the buffer may go out, then EOF.
    Done,
    Failed,
}

/// Reads plaintext out of a message. `read` returns 0 only after the whole message has
/// been verified; every error (truncation, an altered byte, a bad signature) is an
/// `io::Error` that [`Error::from_io`] turns back into this crate's error.
pub struct Decryptor<R: Read> {
    input: R,
    key: MessageKey,
    suite: AlgorithmSuite,
    context: EncryptionContext,
    content: ContentType,
    next_seq: u32,
    /// The current frame: ciphertext and tag, then plaintext after it authenticates.
    buffer: Zeroizing<Vec<u8>>,
    released: usize,
    plaintext_len: usize,
    verifier: Option<Verifier>,
    state: State,
    max_frame_len: u64,
    reject_trailing_data: bool,
}

impl<R: Read> Decryptor<R> {
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    fn read_signed(&mut self, buf: &mut [u8]) -> Result<()> {
        read_exact(&mut self.input, buf)?;
        if let Some(verifier) = self.verifier.as_mut() {
            verifier.update(buf);
        }
        Ok(())
    }

    fn read_u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_signed(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    /// Reads `len` bytes of ciphertext and the tag into the buffer and decrypts them.
    fn read_and_open(
        &mut self,
        part: BodyPart,
        seq: u32,
        iv: [u8; IV_LEN],
        len: usize,
    ) -> Result<()> {
        let total = len.checked_add(TAG_LEN).ok_or(Error::Crypto)?;
        read_exactly_into(&mut self.input, total, &mut self.buffer)?;
        if let Some(verifier) = self.verifier.as_mut() {
            verifier.update(&self.buffer);
        }
        self.key.open(part, seq, iv, &mut self.buffer)?;
        self.released = 0;
        self.plaintext_len = len;
        Ok(())
    }

    fn next_frame(&mut self, frame_length: u32) -> Result<()> {
        let first = self.read_u32()?;
        let (part, seq) = if first == FINAL_FRAME_MARKER {
            (BodyPart::FinalFrame, self.read_u32()?)
        } else {
            (BodyPart::Frame, first)
        };
        if seq != self.next_seq {
            return Err(Error::Malformed("frames are out of sequence"));
        }
        let mut iv = [0u8; IV_LEN];
        self.read_signed(&mut iv)?;
        let len = if part == BodyPart::FinalFrame {
            let len = self.read_u32()?;
            if len > frame_length {
                return Err(Error::Malformed(
                    "the final frame is longer than the frame length",
                ));
            }
            len
        } else {
            frame_length
        };
        let len = usize::try_from(len).map_err(|_| Error::Crypto)?;
        self.read_and_open(part, seq, iv, len)?;
        if part == BodyPart::FinalFrame {
            self.end_of_message()
        } else {
            self.next_seq = seq
                .checked_add(1)
                .filter(|s| *s != FINAL_FRAME_MARKER)
                .ok_or(Error::TooManyFrames)?;
            Ok(())
        }
    }

    fn non_framed_body(&mut self) -> Result<()> {
        let mut iv = [0u8; IV_LEN];
        self.read_signed(&mut iv)?;
        let mut len = [0u8; 8];
        self.read_signed(&mut len)?;
        let len = u64::from_be_bytes(len);
        if len > MAX_NON_FRAMED_LEN {
            return Err(Error::Malformed(
                "the non-framed body is longer than AES-GCM allows",
            ));
        }
        if len > self.max_frame_len {
            return Err(Error::FrameTooLarge {
                found: len,
                limit: self.max_frame_len,
            });
        }
        let len = usize::try_from(len).map_err(|_| Error::Crypto)?;
        self.read_and_open(BodyPart::SingleBlock, 1, iv, len)?;
        self.end_of_message()
    }

    /// After the last ciphertext: the signature, then nothing.
    fn end_of_message(&mut self) -> Result<()> {
        if let Some(verifier) = self.verifier.take() {
            let mut len = [0u8; 2];
            read_exact(&mut self.input, &mut len)?;
            let mut signature = vec![0u8; usize::from(u16::from_be_bytes(len))];
            read_exact(&mut self.input, &mut signature)?;
            verifier.verify(&signature)?;
        }
        if self.reject_trailing_data {
            let mut probe = [0u8; 1];
            loop {
                match self.input.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => return Err(Error::TrailingData),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(Error::Io(err)),
                }
            }
        }
        self.state = State::Done;
        Ok(())
    }

    fn advance(&mut self) -> Result<()> {
        match self.content {
            ContentType::Framed(frame_length) => self.next_frame(frame_length),
            ContentType::NonFramed => self.non_framed_body(),
        }
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.released < self.plaintext_len {
                let available = &self.buffer[self.released..self.plaintext_len];
                let n = available.len().min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.released += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => {
                    return Err(io::Error::other("the message already failed to decrypt"))
                }
                State::Body => {
                    if let Err(err) = self.advance() {
                        self.state = State::Failed;
                        self.plaintext_len = 0;
                        self.released = 0;
                        return Err(err.into_io());
                    }
                }
            }
        }
    }
}

/// What a successful decryption found.
#[derive(Clone, Debug)]
pub struct Decrypted {
    pub suite: AlgorithmSuite,
    pub encryption_context: EncryptionContext,
    pub plaintext_len: u64,
}

/// Decrypts one message from `input` into `output` with a data key from `provider`,
/// refusing it unless its encryption context holds every pair of `expected` (checked
/// before the provider is asked for the key).
///
/// Plaintext reaches `output` frame by frame as each authenticates; an error can still
/// come later (truncation, a bad signature), so write somewhere you can discard.
pub fn decrypt<P, R, W>(
    provider: &P,
    options: &DecryptOptions,
    expected: &EncryptionContext,
    mut input: R,
    mut output: W,
) -> Result<Decrypted>
where
    P: DataKeyProvider + ?Sized,
    R: Read,
    W: Write,
{
    let header = Header::read(&mut input, options)?;
    header.encryption_context().require(expected)?;
    let data_key = provider
        .decrypt(
            header.suite(),
            header.encrypted_data_keys(),
            header.encryption_context(),
        )
        .map_err(Error::Provider)?;
    let mut decryptor = header.open(&data_key, input, options)?;
    let plaintext_len = io::copy(&mut decryptor, &mut output).map_err(Error::from_io)?;
    output.flush().map_err(Error::Io)?;
    Ok(Decrypted {
        suite: decryptor.suite,
        encryption_context: decryptor.context,
        plaintext_len,
    })
}
