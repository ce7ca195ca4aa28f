//! The `blob` type of AWS JSON 1.1: bytes on the wire as a base64 string.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Bytes of a request or response: plaintexts and data keys as well as ciphertexts, so they are
/// zeroized on drop and their `Debug` shows only the length.
#[derive(Clone, Default)]
pub struct Blob(Zeroizing<Vec<u8>>);

impl Blob {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }

    /// Equality in time that depends on the lengths only, never on where the bytes differ.
    pub fn ct_eq(&self, other: &Blob) -> bool {
        self.as_bytes().ct_eq(other.as_bytes()).into()
    }

    /// Standard alphabet with canonical padding, as the AWS SDKs send it. The buffer is sized
    /// up front so that no partial copy of the bytes is left behind unzeroized.
    pub(crate) fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
        let mut bytes = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
        let len = STANDARD.decode_slice(text, &mut bytes[..]).ok()?;
        bytes.truncate(len);
        Some(bytes)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl From<Zeroizing<Vec<u8>>> for Blob {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(STANDARD.encode(self.as_bytes()));
        serializer.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BlobVisitor;

        impl Visitor<'_> for BlobVisitor {
            type Value = Blob;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Blob, E> {
                Blob::decode_base64(text)
                    .map(Blob)
                    .ok_or_else(|| E::custom("invalid base64"))
            }

            fn visit_string<E: de::Error>(self, mut text: String) -> Result<Blob, E> {
                let blob = self.visit_str(&text);
                text.zeroize();
                blob
            }
        }

        deserializer.deserialize_str(BlobVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_base64() {
        let blob: Blob = serde_json::from_str("\"AAEC/w==\"").unwrap();
        assert_eq!(blob.as_bytes(), [0, 1, 2, 255]);
        assert_eq!(serde_json::to_string(&blob).unwrap(), "\"AAEC/w==\"");
        let empty: Blob = serde_json::from_str("\"\"").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn only_canonical_standard_base64_is_accepted() {
        for text in [
            "AAEC/w", "AAEC_w==", "AAEC/w=", "AAE", "AA EC", "AAEC/x==", "!!!!",
        ] {
            assert!(Blob::decode_base64(text).is_none(), "{text}");
        }
    }

    #[test]
    fn compares_by_content() {
        let blob = Blob::from(b"hunter2".as_slice());
        assert!(blob.ct_eq(&Blob::from(b"hunter2".to_vec())));
        assert!(!blob.ct_eq(&Blob::from(b"hunter3".as_slice())));
        assert!(!blob.ct_eq(&Blob::default()));
    }

    #[test]
    fn debug_shows_the_length_not_the_bytes() {
        let blob = Blob::from(b"hunter2".as_slice());
        assert_eq!(format!("{blob:?}"), "Blob(<7 bytes>)");
    }
}
