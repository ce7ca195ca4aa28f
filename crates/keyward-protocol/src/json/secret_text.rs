//! A `sensitive` string of a service model — a secret's value, a generated password, a rotation
//! token — on the wire as a plain JSON string.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Text that must never reach a log: zeroized on drop, `Debug` shows nothing of it, and there
/// is no `Display` or `PartialEq`; compare with [`SecretText::ct_eq`].
#[derive(Clone, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length in UTF-8 bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> Zeroizing<String> {
        self.0
    }

    /// Equality in time that depends on the lengths only, never on where the texts differ.
    pub fn ct_eq(&self, other: &SecretText) -> bool {
        self.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl From<Zeroizing<String>> for SecretText {
    fn from(text: Zeroizing<String>) -> Self {
        Self(text)
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        Self(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretTextVisitor;

        impl Visitor<'_> for SecretTextVisitor {
            type Value = SecretText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretText, E> {
                Ok(SecretText::from(text))
            }

            /// Takes the decoded string's buffer as it is, so no copy is left behind.
            fn visit_string<E: de::Error>(self, text: String) -> Result<SecretText, E> {
                Ok(SecretText::from(text))
            }
        }

        deserializer.deserialize_string(SecretTextVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn is_a_plain_json_string() {
        let text: SecretText = serde_json::from_str(r#""p\u00e4ss \"w\"""#).unwrap();
        assert_eq!(text.as_str(), "päss \"w\"");
        assert_eq!(text.len(), "päss \"w\"".len());
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""päss \"w\"""#);
        let owned: SecretText = serde_json::from_value(serde_json::json!("hunter2")).unwrap();
        assert_eq!(owned.as_str(), "hunter2");
        assert!(serde_json::from_str::<SecretText>("7").is_err());
        assert!(SecretText::default().is_empty());
    }

    #[test]
    fn debug_shows_nothing_of_the_text() {
        let text = SecretText::from("hunter2");
        let debug = format!("{text:?} {:?}", Some(text.clone()));
        assert!(
            !debug.contains("hunter2") && !debug.contains('7'),
            "{debug}"
        );
        assert_eq!(format!("{text:?}"), "SecretText(<redacted>)");
    }

    #[test]
    fn compares_by_content() {
        let a = SecretText::from("hunter2");
        assert!(a.ct_eq(&SecretText::from(String::from("hunter2"))));
        assert!(!a.ct_eq(&SecretText::from("hunter3")));
        assert!(!a.ct_eq(&SecretText::from("hunter")));
        assert!(SecretText::default().ct_eq(&SecretText::from("")));
    }
}
