//! Shamir shares as keyholders see them (`kw1-<index>-<64 hex digits>`), how new ones are
//! handed out, and the unsealer that collects them on a sealed server.

use std::io::Write;

use keyward_crypto::shamir::{self, Share};
use keyward_crypto::Kek;
use zeroize::Zeroizing;

use super::{SealKind, ShamirSetup};
use crate::bootstrap::{write_private, BootstrapError};

const SHARE_PREFIX: &str = "kw1";

/// `kw1-<index>-<64 hex digits>`.
pub(super) fn format_share(share: &Share) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{SHARE_PREFIX}-{}-{}",
        share.index,
        Zeroizing::new(hex::encode(share.value.as_slice())).as_str()
    ))
}

fn parse_share(text: &str) -> Option<Share> {
    let mut parts = text.trim().splitn(3, '-');
    if parts.next()? != SHARE_PREFIX {
        return None;
    }
    let index: u8 = parts.next()?.parse().ok()?;
    let value = Zeroizing::new(hex::decode(parts.next()?).ok()?);
    (index != 0 && value.len() == keyward_crypto::KEK_LEN).then_some(Share { index, value })
}

/// Hands new shares to the operator: into `shares_file` (mode 0600, created), or stdout.
/// Done before the seal is committed, so shares are never lost after it.
pub(super) fn deliver_shares(setup: &ShamirSetup, shares: &[Share]) -> Result<(), BootstrapError> {
    let threshold = setup.threshold;
    let mut text = Zeroizing::new(String::new());
    for share in shares {
        text.push_str(&format_share(share));
        text.push('\n');
    }
    match &setup.shares_file {
        Some(path) => {
            write_private(path, text.as_bytes())?;
            tracing::warn!(
                path = %path.display(),
                shares = shares.len(),
                threshold,
                "wrote the unseal shares; hand one to each keyholder and delete the file: they are never shown again"
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            let header = format!(
                "Unseal shares ({threshold} of {} open this installation). Hand one to each keyholder; they are never shown again:\n",
                shares.len()
            );
            out.write_all(header.as_bytes())
                .and_then(|()| out.write_all(text.as_bytes()))
                .and_then(|()| out.flush())
                .map_err(|e| BootstrapError::Io(format!("cannot print the shares: {e}")))?;
        }
    }
    Ok(())
}
/// Collects Shamir shares until the threshold, then opens the DRK.
pub(crate) struct Unsealer {
    threshold: u8,
    sealed: Vec<u8>,
    shares: Vec<Share>,
}

pub(crate) enum UnsealStep {
    /// Shares held so far, fewer than the threshold.
    Progress(u8),
    Opened(Zeroizing<Vec<u8>>),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum UnsealError {
    #[error("not a Keyward unseal share (kw1-<index>-<64 hex digits>)")]
    Malformed,
    #[error("share {0} was already given")]
    Duplicate(u8),
    #[error("the shares given do not open the root key; progress reset: give {0} shares again")]
    Wrong(u8),
}

impl Unsealer {
    pub(super) fn new(threshold: u8, sealed: Vec<u8>) -> Self {
        Self {
            threshold,
            sealed,
            shares: Vec::new(),
        }
    }

    pub(crate) fn threshold(&self) -> u8 {
        self.threshold
    }

    pub(crate) fn progress(&self) -> u8 {
        u8::try_from(self.shares.len()).unwrap_or(u8::MAX)
    }

    pub(crate) fn submit(&mut self, text: &str) -> Result<UnsealStep, UnsealError> {
        let share = parse_share(text).ok_or(UnsealError::Malformed)?;
        if self.shares.iter().any(|s| s.index == share.index) {
            return Err(UnsealError::Duplicate(share.index));
        }
        self.shares.push(share);
        if self.progress() < self.threshold {
            return Ok(UnsealStep::Progress(self.progress()));
        }
        let shares = std::mem::take(&mut self.shares);
        let opened = shamir::combine(&shares)
            .ok()
            .and_then(|kek| Kek::from_bytes(&kek).ok())
            .and_then(|kek| kek.open(SealKind::Shamir.aad(), &self.sealed).ok());
        opened
            .map(UnsealStep::Opened)
            .ok_or(UnsealError::Wrong(self.threshold))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_trip_through_their_text_form_and_bad_ones_are_refused() {
        let shares = shamir::split(&[3u8; 32], 2, 3).unwrap();
        let text = format_share(&shares[1]);
        assert!(text.starts_with("kw1-2-"), "{}", text.as_str());
        let parsed = parse_share(&format!("  {}\n", text.as_str())).unwrap();
        assert_eq!(parsed.index, 2);
        assert_eq!(parsed.value.as_slice(), shares[1].value.as_slice());
        for bad in [
            "",
            "kw1",
            "kw1-2",
            "kw2-2-00",
            "kw1-0-0000000000000000000000000000000000000000000000000000000000000000",
            "kw1-256-0000000000000000000000000000000000000000000000000000000000000000",
            "kw1-1-00",
            "kw1-1-zz00000000000000000000000000000000000000000000000000000000000000",
            "kw1--1-0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(parse_share(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_unsealer_counts_refuses_duplicates_and_resets_on_wrong_shares() {
        let kek_bytes = Kek::generate_bytes().unwrap();
        let kek = Kek::from_bytes(&kek_bytes).unwrap();
        let sealed = kek.seal(SealKind::Shamir.aad(), &[7u8; 32]).unwrap();
        let shares = shamir::split(&kek_bytes, 3, 5).unwrap();
        let text: Vec<_> = shares.iter().map(format_share).collect();
        let mut unsealer = Unsealer {
            threshold: 3,
            sealed,
            shares: Vec::new(),
        };
        assert!(matches!(
            unsealer.submit(&text[0]),
            Ok(UnsealStep::Progress(1))
        ));
        assert!(matches!(
            unsealer.submit(&text[0]),
            Err(UnsealError::Duplicate(1))
        ));
        assert!(matches!(
            unsealer.submit("nonsense"),
            Err(UnsealError::Malformed)
        ));
        assert!(matches!(
            unsealer.submit(&text[3]),
            Ok(UnsealStep::Progress(2))
        ));
        // A share of another split: the threshold is reached, the seal does not open.
        let foreign = shamir::split(&[1u8; 32], 3, 5).unwrap();
        assert!(matches!(
            unsealer.submit(&format_share(&foreign[4])),
            Err(UnsealError::Wrong(3))
        ));
        assert_eq!(unsealer.progress(), 0);
        for share in [&text[4], &text[1]] {
            assert!(matches!(
                unsealer.submit(share),
                Ok(UnsealStep::Progress(_))
            ));
        }
        match unsealer.submit(&text[2]) {
            Ok(UnsealStep::Opened(drk)) => assert_eq!(drk.as_slice(), &[7u8; 32]),
            _ => panic!("three good shares must open it"),
        }
    }
}
