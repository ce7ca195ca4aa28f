//! The Encryption SDK message format as `keyward decrypt` reads it without any AWS service:
//! header and body parsing, and decryption with a raw AES wrapping key. The first input
//! byte picks the mode:
//!
//! - 0 mod 3: the rest is a message. Decrypting it with [`keyring`] fails with an error or
//!   succeeds; a message that decrypts has a header that reads, reports the plaintext it
//!   wrote, and fails once any one byte is changed.
//! - 1 mod 3: the rest is a serialized encryption context: one that parses serializes to
//!   something that parses back to it.
//! - 2 mod 3: the rest is `suite frame-length context\nplaintext`, encrypted then decrypted:
//!   the plaintext and context come back.

use keyward_esdk::raw_aes::RawAesKeyring;
use keyward_esdk::{
    decrypt, encrypt, AlgorithmSuite, CommitmentPolicy, DecryptOptions, EncryptOptions,
    EncryptionContext, Error, Header,
};

use crate::input::{flip_one, pairs, split_byte, split_line};

/// The wrapping key of every message in the seed corpus (`examples/seeds.rs`).
pub const WRAPPING_KEY: [u8; 32] = [0x2a; 32];
pub const KEY_NAMESPACE: &str = "keyward-fuzzing";
pub const KEY_NAME: &str = "seed-key";

/// The raw AES keyring of [`WRAPPING_KEY`].
pub fn keyring() -> Option<RawAesKeyring> {
    RawAesKeyring::new(KEY_NAMESPACE, KEY_NAME, &WRAPPING_KEY).ok()
}

/// Limits well below the defaults, so that a header claiming huge frames costs the fuzzer
/// an error rather than memory.
fn options() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        max_header_len: 64 << 10,
        max_frame_len: 1 << 20,
        max_encrypted_data_keys: Some(16),
        reject_trailing_data: true,
    }
}

/// Runs the mode the first byte picks.
pub fn esdk(data: &[u8]) {
    let Some(keyring) = keyring() else {
        return;
    };
    let (mode, rest) = split_byte(data);
    match mode % 3 {
        0 => check_message(&keyring, rest, usize::from(mode)),
        1 => check_context(rest),
        _ => check_round_trip(&keyring, rest),
    }
}

fn open(keyring: &RawAesKeyring, message: &[u8]) -> keyward_esdk::Result<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    let decrypted = decrypt(
        keyring,
        &options(),
        &EncryptionContext::new(),
        message,
        &mut out,
    )?;
    Ok((out, decrypted.plaintext_len))
}

fn check_message(keyring: &RawAesKeyring, message: &[u8], seed: usize) {
    let Ok((plaintext, len)) = open(keyring, message) else {
        return;
    };
    assert_eq!(u64::try_from(plaintext.len()).ok(), Some(len));
    let mut input = message;
    assert!(Header::read(&mut input, &options()).is_ok());
    if let Some(tampered) = flip_one(message, seed.wrapping_mul(7919) ^ message.len()) {
        assert!(open(keyring, &tampered).is_err(), "a changed byte");
    }
    let truncated = message
        .get(..message.len().saturating_sub(1))
        .unwrap_or_default();
    assert!(open(keyring, truncated).is_err(), "a truncated message");
}

fn check_context(bytes: &[u8]) {
    let Ok(context) = EncryptionContext::parse(bytes) else {
        return;
    };
    let serialized = context.serialize();
    assert!(serialized.is_ok(), "a parsed context serializes");
    let serialized = serialized.unwrap_or_default();
    assert_eq!(serialized.len(), bytes.len(), "same pairs, same length");
    assert_eq!(EncryptionContext::parse(&serialized).ok(), Some(context));
}

fn check_round_trip(keyring: &RawAesKeyring, data: &[u8]) {
    let (settings, plaintext) = split_line(data);
    let (suite, settings) = split_byte(settings);
    let (frame, context) = split_byte(settings);
    let suite = AlgorithmSuite::ALL
        .get(usize::from(suite) % AlgorithmSuite::ALL.len())
        .copied()
        .unwrap_or(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey);
    let Ok(context) = EncryptionContext::from_pairs(pairs(context)) else {
        return;
    };
    let commitment_policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let options = EncryptOptions {
        suite: Some(suite),
        frame_length: u32::from(frame) + 1,
        commitment_policy,
    };
    let message = encrypt(keyring, &options, context.clone(), plaintext, Vec::new());
    // The one refusal: a context whose serialization exceeds the format's 64 KiB.
    if matches!(message, Err(Error::ContextTooLarge)) {
        return;
    }
    assert!(message.is_ok(), "encrypt: {:?}", message.err());
    let Ok(message) = message else { return };
    let mut out = Vec::new();
    let decrypted = decrypt(
        keyring,
        &DecryptOptions {
            commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
            ..DecryptOptions::default()
        },
        &context,
        message.as_slice(),
        &mut out,
    );
    assert!(decrypted.is_ok(), "decrypt: {:?}", decrypted.err());
    assert_eq!(out, plaintext);
    if let Ok(decrypted) = decrypted {
        assert_eq!(decrypted.suite, suite);
        for (key, value) in context.iter() {
            assert_eq!(decrypted.encryption_context.get(key), Some(value));
        }
    }
}
