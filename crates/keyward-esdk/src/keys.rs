//! The key schedule of a message: the data key becomes the AES key (directly, or by HKDF),
//! and for committing suites also a commitment; the header, the frames and the signature.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::hkdf;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ParsedPublicKey};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::header::COMMITMENT_LEN;
use crate::suite::{AlgorithmSuite, Kdf, SigningCurve};

pub(crate) const IV_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

const DERIVE_KEY_LABEL: &[u8] = b"DERIVEKEY";
const COMMIT_KEY_LABEL: &[u8] = b"COMMITKEY";

/// The kind of body content a piece of ciphertext is, bound into its AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyPart {
    Frame,
    FinalFrame,
    SingleBlock,
}

impl BodyPart {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Frame => b"AWSKMSEncryptionClient Frame",
            Self::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
            Self::SingleBlock => b"AWSKMSEncryptionClient Single Block",
        }
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_expand(
    algorithm: hkdf::Algorithm,
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<()> {
    hkdf::Salt::new(algorithm, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))?
        .fill(out)?;
    Ok(())
}

/// The AES-GCM key of one message.
pub(crate) struct MessageKey {
    key: LessSafeKey,
    message_id: Vec<u8>,
}

impl MessageKey {
    /// Derives the message key (and, for committing suites, the commitment) from a data
    /// key of the suite's length.
    pub(crate) fn derive(
        suite: AlgorithmSuite,
        data_key: &[u8],
        message_id: &[u8],
    ) -> Result<(Self, Option<Zeroizing<[u8; COMMITMENT_LEN]>>)> {
        if data_key.len() != suite.data_key_len() {
            return Err(Error::DataKeyLength {
                found: data_key.len(),
                expected: suite.data_key_len(),
            });
        }
        let mut aes_key = Zeroizing::new(vec![0u8; suite.data_key_len()]);
        let mut commitment = None;
        match (suite.kdf(), suite.kdf().hkdf()) {
            (Kdf::Identity, _) | (_, None) => aes_key.copy_from_slice(data_key),
            (_, Some(algorithm)) if suite.is_committing() => {
                let id = suite.id().to_be_bytes();
                hkdf_expand(
                    algorithm,
                    message_id,
                    data_key,
                    &[&id, DERIVE_KEY_LABEL],
                    &mut aes_key,
                )?;
                let mut commit = Zeroizing::new([0u8; COMMITMENT_LEN]);
                hkdf_expand(
                    algorithm,
                    message_id,
                    data_key,
                    &[COMMIT_KEY_LABEL],
                    &mut commit[..],
                )?;
                commitment = Some(commit);
            }
            (_, Some(algorithm)) => {
                let id = suite.id().to_be_bytes();
                hkdf_expand(algorithm, &[], data_key, &[&id, message_id], &mut aes_key)?;
            }
        }
        let key = LessSafeKey::new(UnboundKey::new(suite.aead(), &aes_key)?);
        Ok((
            Self {
                key,
                message_id: message_id.to_vec(),
            },
            commitment,
        ))
    }

    pub(crate) fn header_tag(&self, iv: [u8; IV_LEN], header: &[u8]) -> Result<[u8; TAG_LEN]> {
        let tag = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(header),
            &mut [],
        )?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    pub(crate) fn verify_header(
        &self,
        iv: [u8; IV_LEN],
        header: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let mut in_out = *tag;
        self.key
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(header),
                &mut in_out,
            )
            .map(|_| ())
            .map_err(|_| Error::HeaderAuthentication)
    }

    fn body_aad(&self, part: BodyPart, seq: u32, len: u64) -> Vec<u8> {
        let label = part.label();
        let mut aad = Vec::with_capacity(self.message_id.len() + label.len() + 12);
        aad.extend_from_slice(&self.message_id);
        aad.extend_from_slice(label);
        aad.extend_from_slice(&seq.to_be_bytes());
        aad.extend_from_slice(&len.to_be_bytes());
        aad
    }

    /// Encrypts `in_out` in place; returns the tag.
    pub(crate) fn seal(
        &self,
        part: BodyPart,
        seq: u32,
        iv: [u8; IV_LEN],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let len = u64::try_from(in_out.len()).map_err(|_| Error::Crypto)?;
        let aad = self.body_aad(part, seq, len);
        let tag = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            in_out,
        )?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts ciphertext-then-tag in place; the plaintext is the first `len - TAG_LEN`
    /// bytes afterwards.
    pub(crate) fn open(
        &self,
        part: BodyPart,
        seq: u32,
        iv: [u8; IV_LEN],
        in_out: &mut [u8],
    ) -> Result<()> {
        let plain_len = in_out.len().checked_sub(TAG_LEN).ok_or(Error::Crypto)?;
        let len = u64::try_from(plain_len).map_err(|_| Error::Crypto)?;
        let aad = self.body_aad(part, seq, len);
        self.key
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), in_out)
            .map(|_| ())
            .map_err(|_| Error::FrameAuthentication(seq))
    }
}

/// The deterministic IV of frame `seq` (and of the header, with 0).
pub(crate) fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// Compares a derived commitment with the header's, in constant time.
pub(crate) fn check_commitment(
    derived: &[u8; COMMITMENT_LEN],
    in_header: &[u8; COMMITMENT_LEN],
) -> Result<()> {
    verify_slices_are_equal(derived, in_header).map_err(|_| Error::CommitmentMismatch)
}

/// The ephemeral signing key of one message and the running digest of what it signs.
pub(crate) struct Signer {
    key_pair: EcdsaKeyPair,
    digest: digest::Context,
}

impl Signer {
    pub(crate) fn generate(curve: SigningCurve) -> Result<Self> {
        Ok(Self {
            key_pair: EcdsaKeyPair::generate(curve.signing())?,
            digest: digest::Context::new(curve.digest()),
        })
    }

    /// The compressed public point, base64, for the encryption context.
    pub(crate) fn public_key_base64(&self) -> Result<String> {
        let compressed: EcPublicKeyCompressedBin<'static> =
            self.key_pair.public_key().as_be_bytes()?;
        Ok(base64::engine::general_purpose::STANDARD.encode(compressed.as_ref()))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The DER signature over everything passed to `update`.
    pub(crate) fn sign(self) -> Result<Vec<u8>> {
        let digest = self.digest.finish();
        Ok(self.key_pair.sign_digest(&digest)?.as_ref().to_vec())
    }
}

/// The public key from a message's encryption context and the running digest.
pub(crate) struct Verifier {
    key: ParsedPublicKey,
    digest: digest::Context,
}

impl Verifier {
    pub(crate) fn new(curve: SigningCurve, public_key_base64: &str) -> Result<Self> {
        let point = base64::engine::general_purpose::STANDARD
            .decode(public_key_base64)
            .map_err(|_| Error::Malformed("the public key is not base64"))?;
        if point.len() != curve.compressed_point_len() || !matches!(point.first(), Some(2 | 3)) {
            return Err(Error::Malformed("the public key is not a compressed point"));
        }
        let key = ParsedPublicKey::new(curve.verification(), &point)
            .map_err(|_| Error::Malformed("the public key is not a point of the curve"))?;
        Ok(Self {
            key,
            digest: digest::Context::new(curve.digest()),
        })
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    pub(crate) fn verify(self, signature: &[u8]) -> Result<()> {
        let digest = self.digest.finish();
        self.key
            .verify_digest_sig(&digest, signature)
            .map_err(|_| Error::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_compressed_key() {
        for curve in [SigningCurve::P256, SigningCurve::P384] {
            let mut signer = Signer::generate(curve).unwrap();
            let public = signer.public_key_base64().unwrap();
            signer.update(b"header");
            signer.update(b"body");
            let sig = signer.sign().unwrap();
            let mut verifier = Verifier::new(curve, &public).unwrap();
            verifier.update(b"headerbody");
            verifier.verify(&sig).unwrap();
            let mut verifier = Verifier::new(curve, &public).unwrap();
            verifier.update(b"headerbodz");
            assert!(matches!(verifier.verify(&sig), Err(Error::Signature)));
        }
        assert!(Verifier::new(SigningCurve::P384, "not base64!").is_err());
        assert!(Verifier::new(SigningCurve::P384, "AAAA").is_err());
    }

    #[test]
    fn frame_ivs_count_the_sequence() {
        assert_eq!(frame_iv(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(frame_iv(0x01020304)[8..], [1, 2, 3, 4]);
    }

    #[test]
    fn wrong_data_key_length_is_refused() {
        let suite = AlgorithmSuite::DEFAULT_COMMITTING;
        assert!(matches!(
            MessageKey::derive(suite, &[0u8; 16], &[0u8; 32]),
            Err(Error::DataKeyLength {
                found: 16,
                expected: 32
            })
        ));
    }
}
