//! Round trips, tampering, truncation, commitment and context checks over every suite.

use std::io::Write;

use proptest::prelude::*;
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::encrypt::FINAL_FRAME_MARKER;
use crate::header::{ContentType, Header};
use crate::keys::{frame_iv, BodyPart, MessageKey, Signer, IV_LEN};
use crate::provider::{DataKey, DataKeyProvider, EncryptedDataKey, ProviderError};
use crate::raw_aes::RawAesKeyring;
use crate::{
    decrypt, encrypt, AlgorithmSuite, CommitmentPolicy, DecryptOptions, EncryptOptions, Error,
    PUBLIC_KEY_FIELD,
};

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("keyward-test", "unit", &[7u8; 32]).unwrap()
}

fn context() -> EncryptionContext {
    EncryptionContext::from_pairs([("purpose", "unit test"), ("dept", "ünïcode ✓")]).unwrap()
}

fn policy_for(suite: AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

fn seal(suite: AlgorithmSuite, frame_length: u32, plaintext: &[u8]) -> Vec<u8> {
    let options = EncryptOptions {
        suite: Some(suite),
        frame_length,
        commitment_policy: policy_for(suite),
    };
    encrypt(&keyring(), &options, context(), plaintext, Vec::new()).unwrap()
}

fn open_with(
    provider: &dyn DataKeyProvider,
    policy: CommitmentPolicy,
    expected: &EncryptionContext,
    message: &[u8],
) -> crate::Result<Vec<u8>> {
    let options = DecryptOptions {
        commitment_policy: policy,
        ..DecryptOptions::default()
    };
    let mut out = Vec::new();
    decrypt(provider, &options, expected, message, &mut out)?;
    Ok(out)
}

fn open(message: &[u8]) -> crate::Result<Vec<u8>> {
    open_with(
        &keyring(),
        CommitmentPolicy::RequireEncryptAllowDecrypt,
        &context(),
        message,
    )
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

#[test]
fn every_suite_round_trips_at_every_frame_size() {
    for suite in AlgorithmSuite::ALL {
        for frame in [1u32, 4096, 1 << 20] {
            let f = frame as usize;
            let mut lengths = vec![0, 1, 4095, 4096, 4097, 3 * 4096];
            if f > 1 {
                lengths.extend([f - 1, f + 1]);
            }
            if frame == 1 {
                lengths.retain(|l| *l <= 4096);
            }
            if frame == 1 << 20 {
                lengths.extend([f, 2 * f + 5]);
            }
            for len in lengths {
                let plaintext = pattern(len);
                let message = seal(suite, frame, &plaintext);
                assert_eq!(message[0], if suite.is_committing() { 2 } else { 1 });
                let back = open(&message)
                    .unwrap_or_else(|e| panic!("{suite} frame {frame} len {len}: {e}"));
                assert_eq!(back, plaintext, "{suite} frame {frame} len {len}");
            }
        }
    }
}

#[test]
fn a_multiple_of_the_frame_length_ends_with_an_empty_final_frame() {
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
    let message = seal(suite, 16, &[1u8; 32]);
    // header .. two regular frames (4 + 12 + 16 + 16 each), then the final frame: marker,
    // seq 3, IV, length 0, tag.
    let tail = &message[message.len() - (4 + 4 + 12 + 4 + 16)..];
    assert_eq!(&tail[..4], &FINAL_FRAME_MARKER.to_be_bytes());
    assert_eq!(&tail[4..8], &3u32.to_be_bytes());
    assert_eq!(&tail[20..24], &0u32.to_be_bytes());
}

#[test]
fn the_default_is_0x0578_with_4096_byte_frames() {
    let message = encrypt(
        &keyring(),
        &EncryptOptions::default(),
        context(),
        &b"hi"[..],
        Vec::new(),
    )
    .unwrap();
    let header = Header::read(&mut &message[..], &DecryptOptions::default()).unwrap();
    assert_eq!(header.suite().id(), 0x0578);
    assert_eq!(header.content_type(), ContentType::Framed(4096));
    assert!(header.encryption_context().get(PUBLIC_KEY_FIELD).is_some());
    assert_eq!(
        header.encryption_context().get("purpose"),
        Some("unit test")
    );
}

/// A non-framed message, as older SDKs could write (decryption only here).
fn seal_non_framed(suite: AlgorithmSuite, plaintext: &[u8]) -> Vec<u8> {
    let provider = keyring();
    let mut ctx = context();
    let mut signer = suite.signing_curve().map(|c| Signer::generate(c).unwrap());
    if let Some(s) = &signer {
        ctx.insert_reserved(PUBLIC_KEY_FIELD, s.public_key_base64().unwrap());
    }
    let data_key = provider.generate(suite, &ctx).unwrap();
    let mut message_id = vec![0u8; if suite.is_committing() { 32 } else { 16 }];
    aws_lc_rs::rand::fill(&mut message_id).unwrap();
    let (key, commitment) = MessageKey::derive(suite, data_key.plaintext(), &message_id).unwrap();
    let mut header = Header {
        suite,
        message_id,
        context: ctx,
        encrypted_data_keys: data_key.into_encrypted(),
        content: ContentType::NonFramed,
        commitment: commitment.map(|c| *c),
        bytes: Vec::new(),
        auth_iv: [0u8; IV_LEN],
        auth_tag: [0u8; 16],
    };
    header.serialize_fields().unwrap();
    header.auth_tag = key.header_tag(header.auth_iv, &header.bytes).unwrap();
    let mut out = header.bytes.clone();
    out.extend_from_slice(&header.auth_bytes());
    let iv = frame_iv(1);
    let mut body = plaintext.to_vec();
    let tag = key.seal(BodyPart::SingleBlock, 1, iv, &mut body).unwrap();
    out.extend_from_slice(&iv);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    if let Some(mut s) = signer.take() {
        s.update(&out);
        let sig = s.sign().unwrap();
        out.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        out.extend_from_slice(&sig);
    }
    out
}

#[test]
fn non_framed_messages_decrypt() {
    for suite in AlgorithmSuite::ALL {
        for len in [0usize, 1, 5000] {
            let plaintext = pattern(len);
            let message = seal_non_framed(suite, &plaintext);
            assert_eq!(open(&message).unwrap(), plaintext, "{suite} {len}");
            let mut cut = message.clone();
            cut.pop();
            assert!(open(&cut).is_err());
        }
    }
}

#[test]
fn a_non_framed_body_over_the_limit_is_refused() {
    let message = seal_non_framed(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey, &[0u8; 100]);
    let options = DecryptOptions {
        max_frame_len: 99,
        ..DecryptOptions::default()
    };
    let mut out = Vec::new();
    let err = decrypt(&keyring(), &options, &context(), &message[..], &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FrameTooLarge {
                found: 100,
                limit: 99
            }
        ),
        "{err}"
    );
}

#[test]
fn every_altered_byte_is_refused() {
    for suite in [
        AlgorithmSuite::Aes128GcmIv12Tag16NoKdf,
        AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha256,
        AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        let message = seal(suite, 8, b"twenty plaintext bytes");
        assert!(open(&message).is_ok());
        for position in 0..message.len() {
            for flip in [0x01u8, 0x80] {
                let mut altered = message.clone();
                altered[position] ^= flip;
                assert!(
                    open(&altered).is_err(),
                    "{suite}: flipping bit {flip:#x} of byte {position} of {} went unnoticed",
                    message.len()
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_any_trailing_byte_is_refused() {
    for suite in [
        AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha256,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
    ] {
        let message = seal(suite, 8, b"twenty plaintext bytes");
        for len in 0..message.len() {
            let err = open(&message[..len]).unwrap_err();
            assert!(
                !matches!(err, Error::Crypto),
                "{suite}: a cut at {len} gave an internal error"
            );
        }
        let mut longer = message.clone();
        longer.push(0);
        assert!(matches!(open(&longer), Err(Error::TrailingData)));
    }
}

#[test]
fn truncation_at_a_frame_boundary_is_refused_before_eof() {
    // Cut after the second regular frame: what was read authenticated, but the final
    // frame is missing, so the read that would end the plaintext fails instead.
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
    let message = seal(suite, 4, b"0123456789");
    let header_len = {
        let mut cursor = &message[..];
        let before = cursor.len();
        Header::read(&mut cursor, &DecryptOptions::default()).unwrap();
        before - cursor.len()
    };
    let frame = 4 + 12 + 4 + 16;
    let cut = &message[..header_len + 2 * frame];
    assert!(matches!(open(cut), Err(Error::Truncated)));
}

/// A provider that hands out another message's data key.
struct WrongKey;

impl DataKeyProvider for WrongKey {
    fn generate(&self, _: AlgorithmSuite, _: &EncryptionContext) -> Result<DataKey, ProviderError> {
        Err("not used".into())
    }

    fn decrypt(
        &self,
        suite: AlgorithmSuite,
        _: &[EncryptedDataKey],
        _: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Ok(Zeroizing::new(vec![9u8; suite.data_key_len()]))
    }
}

#[test]
fn a_wrong_data_key_fails_the_commitment_or_the_header() {
    let policy = CommitmentPolicy::RequireEncryptAllowDecrypt;
    for suite in AlgorithmSuite::ALL {
        let message = seal(suite, 64, b"secret");
        let err = open_with(&WrongKey, policy, &context(), &message).unwrap_err();
        if suite.is_committing() {
            assert!(matches!(err, Error::CommitmentMismatch), "{suite}: {err}");
        } else {
            assert!(matches!(err, Error::HeaderAuthentication), "{suite}: {err}");
        }
    }
}

#[test]
fn an_altered_commitment_is_refused_as_such() {
    let message = seal(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey, 64, b"secret");
    let header = Header::read(&mut &message[..], &DecryptOptions::default()).unwrap();
    // The commitment is the last 32 bytes of the header fields.
    let at = header.bytes.len() - 1;
    let mut altered = message.clone();
    altered[at] ^= 1;
    assert!(matches!(open(&altered), Err(Error::CommitmentMismatch)));
}

#[test]
fn the_policy_decides_which_messages_decrypt() {
    let v1 = seal(
        AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        64,
        b"old",
    );
    let err = open_with(
        &keyring(),
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        &context(),
        &v1,
    )
    .unwrap_err();
    assert!(matches!(err, Error::PolicyForbids { .. }), "{err}");
    for policy in [
        CommitmentPolicy::RequireEncryptAllowDecrypt,
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
    ] {
        assert_eq!(
            open_with(&keyring(), policy, &context(), &v1).unwrap(),
            b"old"
        );
    }
    let refused = encrypt(
        &keyring(),
        &EncryptOptions {
            suite: Some(AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha256),
            ..EncryptOptions::default()
        },
        context(),
        &b""[..],
        Vec::new(),
    );
    assert!(matches!(refused, Err(Error::PolicyForbids { .. })));
    let refused = encrypt(
        &keyring(),
        &EncryptOptions {
            suite: Some(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey),
            commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
            ..EncryptOptions::default()
        },
        context(),
        &b""[..],
        Vec::new(),
    );
    assert!(matches!(refused, Err(Error::PolicyForbids { .. })));
}

#[test]
fn the_expected_context_must_be_in_the_message() {
    let message = seal(AlgorithmSuite::DEFAULT_COMMITTING, 64, b"x");
    let policy = CommitmentPolicy::RequireEncryptRequireDecrypt;
    let subset = EncryptionContext::from_pairs([("purpose", "unit test")]).unwrap();
    assert!(open_with(&keyring(), policy, &subset, &message).is_ok());
    assert!(open_with(&keyring(), policy, &EncryptionContext::new(), &message).is_ok());
    for bad in [[("purpose", "other")], [("missing", "unit test")]] {
        let expected = EncryptionContext::from_pairs(bad).unwrap();
        let err = open_with(&keyring(), policy, &expected, &message).unwrap_err();
        assert!(matches!(err, Error::ContextMismatch(_)), "{err}");
    }
}

#[test]
fn an_empty_context_and_empty_input() {
    let options = EncryptOptions::default();
    let message = encrypt(
        &keyring(),
        &options,
        EncryptionContext::new(),
        &b""[..],
        Vec::new(),
    )
    .unwrap();
    let mut out = Vec::new();
    decrypt(
        &keyring(),
        &DecryptOptions::default(),
        &EncryptionContext::new(),
        &message[..],
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty());
    let unsigned = EncryptOptions {
        suite: Some(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey),
        ..EncryptOptions::default()
    };
    let message = encrypt(
        &keyring(),
        &unsigned,
        EncryptionContext::new(),
        &b""[..],
        Vec::new(),
    )
    .unwrap();
    // Empty context: an AAD length of zero and nothing else.
    assert_eq!(&message[35..37], &[0, 0]);
    decrypt(
        &keyring(),
        &DecryptOptions::default(),
        &EncryptionContext::new(),
        &message[..],
        &mut out,
    )
    .unwrap();
}

#[test]
fn reserved_context_keys_are_refused_on_encrypt() {
    let ctx = EncryptionContext::parse(&[
        0, 1, 0, 11, b'a', b'w', b's', b'-', b'c', b'r', b'y', b'p', b't', b'o', b'-', 0, 0,
    ])
    .unwrap();
    let err = encrypt(
        &keyring(),
        &EncryptOptions::default(),
        ctx,
        &b""[..],
        Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::ReservedContextKey(_)));
}

#[test]
fn header_limits_hold() {
    let message = seal(AlgorithmSuite::DEFAULT_COMMITTING, 64, b"x");
    let small = DecryptOptions {
        max_header_len: 100,
        ..DecryptOptions::default()
    };
    assert!(matches!(
        Header::read(&mut &message[..], &small),
        Err(Error::HeaderTooLarge(100))
    ));
    let frames = DecryptOptions {
        max_frame_len: 63,
        ..DecryptOptions::default()
    };
    assert!(matches!(
        Header::read(&mut &message[..], &frames),
        Err(Error::FrameTooLarge {
            found: 64,
            limit: 63
        })
    ));
    let edks = DecryptOptions {
        max_encrypted_data_keys: Some(0),
        ..DecryptOptions::default()
    };
    assert!(Header::read(&mut &message[..], &edks).is_err());
}

#[test]
fn writes_of_any_shape_make_the_same_plaintext() {
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;
    let plan = crate::EncryptPlan::new(
        &EncryptOptions {
            suite: Some(suite),
            frame_length: 7,
            ..EncryptOptions::default()
        },
        context(),
    )
    .unwrap();
    let data_key = keyring()
        .generate(suite, plan.encryption_context())
        .unwrap();
    let mut encryptor = plan.start(data_key, Vec::new()).unwrap();
    let plaintext = pattern(1000);
    let mut rest = &plaintext[..];
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        encryptor.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 % 17 + 1;
    }
    let message = encryptor.finish().unwrap();
    assert_eq!(open(&message).unwrap(), plaintext);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_plaintexts_and_frames_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..6000),
        frame in 1u32..3000,
        suite_index in 0usize..AlgorithmSuite::ALL.len(),
    ) {
        let suite = AlgorithmSuite::ALL[suite_index];
        let message = seal(suite, frame, &plaintext);
        prop_assert_eq!(open(&message).unwrap(), plaintext);
    }

    #[test]
    fn random_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = open(&bytes);
    }

    #[test]
    fn random_edits_of_a_message_are_refused(
        position in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let message = seal(AlgorithmSuite::DEFAULT_COMMITTING, 16, b"a short plaintext of 40 bytes or so....");
        let at = position.index(message.len());
        prop_assume!(message[at] != value);
        let mut altered = message.clone();
        altered[at] = value;
        prop_assert!(open(&altered).is_err());
    }
}
