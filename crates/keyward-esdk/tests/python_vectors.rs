//! Messages made by the official Python AWS Encryption SDK (a Raw AES master key; see
//! vectors/generate.py) decrypt here: every suite, framed, non-framed, empty.

use std::collections::BTreeSet;

use base64::Engine as _;
use keyward_esdk::raw_aes::RawAesKeyring;
use keyward_esdk::{
    decrypt, AlgorithmSuite, CommitmentPolicy, ContentType, DecryptOptions, EncryptionContext,
    Header,
};

const VECTORS: &str = include_str!("vectors/python-raw-aes.json");

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 % 251) as u8).collect()
}

#[test]
fn python_messages_decrypt() {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let context = EncryptionContext::from_pairs(
        doc["context"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
    )
    .unwrap();
    let keyring = RawAesKeyring::new("keyward-test", "vectors", &[7u8; 32]).unwrap();
    let options = DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    };
    let mut suites = BTreeSet::new();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 44);
    for vector in vectors {
        let suite = AlgorithmSuite::from_id(vector["suite"].as_u64().unwrap() as u16).unwrap();
        let frame_length = vector["frame_length"].as_u64().unwrap() as u32;
        let expected = plaintext(vector["plaintext_length"].as_u64().unwrap() as usize);
        let message = base64::engine::general_purpose::STANDARD
            .decode(vector["message"].as_str().unwrap())
            .unwrap();
        let header = Header::read(&mut &message[..], &options).unwrap();
        assert_eq!(header.suite(), suite);
        let content = if frame_length == 0 {
            ContentType::NonFramed
        } else {
            ContentType::Framed(frame_length)
        };
        assert_eq!(header.content_type(), content);
        let mut out = Vec::new();
        let found = decrypt(&keyring, &options, &context, &message[..], &mut out)
            .unwrap_or_else(|e| panic!("{suite} frame {frame_length}: {e}"));
        assert_eq!(out, expected, "{suite} frame {frame_length}");
        assert_eq!(found.suite, suite);
        suites.insert(suite.id());

        let mut altered = message.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(decrypt(&keyring, &options, &context, &altered[..], &mut Vec::new()).is_err());
    }
    assert_eq!(suites.len(), AlgorithmSuite::ALL.len());
}

#[test]
fn the_default_policy_refuses_python_v1_messages() {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let message = base64::engine::general_purpose::STANDARD
        .decode(doc["vectors"][0]["message"].as_str().unwrap())
        .unwrap();
    let err = Header::read(&mut &message[..], &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(err, keyward_esdk::Error::PolicyForbids { .. }),
        "{err}"
    );
}
