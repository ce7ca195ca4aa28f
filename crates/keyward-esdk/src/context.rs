//! The encryption context: UTF-8 pairs, serialized sorted by key as the header's AAD.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::wire::Cursor;

/// Keys starting with this are the SDK's own (the signing suites' public key).
pub const RESERVED_PREFIX: &str = "aws-crypto-";
/// Where the signing suites put the base64 compressed public key.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Key-value pairs bound to the message: authenticated, not encrypted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// A caller's context for encryption: no key may use the SDK's reserved prefix.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            let key = key.into();
            if key.starts_with(RESERVED_PREFIX) {
                return Err(Error::ReservedContextKey(key));
            }
            map.insert(key, value.into());
        }
        Ok(Self(map))
    }

    pub(crate) fn insert_reserved(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Every pair of `expected` must be here with the same value; other pairs (such as the
    /// signing suites' public key) may be present too.
    pub fn require(&self, expected: &EncryptionContext) -> Result<()> {
        for (key, value) in expected.iter() {
            match self.get(key) {
                None => {
                    return Err(Error::ContextMismatch(format!(
                        "the message has no key '{key}'"
                    )))
                }
                Some(found) if found != value => {
                    return Err(Error::ContextMismatch(format!(
                        "the message's value for '{key}' differs"
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The header's serialization: empty for an empty context, else a pair count and the
    /// length-prefixed pairs sorted by key bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        let count = u16::try_from(self.0.len()).map_err(|_| Error::ContextTooLarge)?;
        let mut out = Vec::new();
        out.extend_from_slice(&count.to_be_bytes());
        for (key, value) in &self.0 {
            for field in [key.as_bytes(), value.as_bytes()] {
                let len = u16::try_from(field.len()).map_err(|_| Error::ContextTooLarge)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(field);
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(Error::ContextTooLarge);
        }
        Ok(out)
    }

    /// Parses the header's serialization (strictly: no duplicate keys, valid UTF-8, no
    /// bytes left over, a non-empty serialization holds at least one pair).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut map = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self(map));
        }
        let mut cursor = Cursor::new(bytes);
        let count = cursor.u16()?;
        if count == 0 {
            return Err(Error::Malformed(
                "an encryption context of zero pairs must be empty",
            ));
        }
        for _ in 0..count {
            let key = utf8(cursor.prefixed16()?)?;
            let value = utf8(cursor.prefixed16()?)?;
            if map.insert(key, value).is_some() {
                return Err(Error::Malformed("duplicate key in the encryption context"));
            }
        }
        if !cursor.is_empty() {
            return Err(Error::Malformed("bytes after the encryption context"));
        }
        Ok(Self(map))
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Malformed("encryption context is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_is_sorted_by_key_bytes() {
        let ctx = EncryptionContext::from_pairs([("b", "2"), ("a", "1"), ("Z", "0")]).unwrap();
        let bytes = ctx.serialize().unwrap();
        assert_eq!(
            bytes,
            [
                &[0, 3][..],
                &[0, 1, b'Z', 0, 1, b'0'],
                &[0, 1, b'a', 0, 1, b'1'],
                &[0, 1, b'b', 0, 1, b'2']
            ]
            .concat()
        );
        assert_eq!(EncryptionContext::parse(&bytes).unwrap(), ctx);
        assert!(EncryptionContext::new().serialize().unwrap().is_empty());
    }

    #[test]
    fn parse_refuses_bad_input() {
        for bad in [
            &[0u8][..],
            &[0, 0],
            &[0, 1, 0, 1, b'a'],
            &[0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0],
            &[0, 1, 0, 1, 0xff, 0, 0],
            &[0, 1, 0, 1, b'a', 0, 0, 9],
        ] {
            assert!(EncryptionContext::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserved_keys_and_required_pairs() {
        assert!(matches!(
            EncryptionContext::from_pairs([("aws-crypto-public-key", "x")]),
            Err(Error::ReservedContextKey(_))
        ));
        let mut ctx = EncryptionContext::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        ctx.insert_reserved(PUBLIC_KEY_FIELD, "k".into());
        assert!(ctx
            .require(&EncryptionContext::from_pairs([("a", "1")]).unwrap())
            .is_ok());
        assert!(ctx.require(&EncryptionContext::new()).is_ok());
        assert!(ctx
            .require(&EncryptionContext::from_pairs([("a", "2")]).unwrap())
            .is_err());
        assert!(ctx
            .require(&EncryptionContext::from_pairs([("c", "1")]).unwrap())
            .is_err());
    }
}
