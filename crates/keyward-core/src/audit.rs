//! The audit trail: one event per request, in CloudTrail's record format, chained by
//! hashes. There is one global chain per installation: event `n` carries the hash of event
//! `n - 1`, so a removed, altered or reordered event breaks the chain where it happened.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The hash before the first event of a chain.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// One event as it is stored: the CloudTrail record (JSON) and the fields lookups index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub event_id: String,
    pub event_time: UnixMillis,
    pub event_source: String,
    pub event_name: String,
    pub read_only: bool,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    /// `(ResourceType, ResourceName)` pairs, e.g. `("AWS::KMS::Key", "<key arn>")`.
    pub resources: Vec<(String, String)>,
    pub account: String,
    pub region: String,
    /// The CloudTrail record, compact JSON. Never holds a plaintext, a secret value or key
    /// material.
    pub record: String,
}

/// An event with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub event: AuditEvent,
}

/// Where a chain starts: after the last pruned event, or at the genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl Checkpoint {
    pub const GENESIS: Checkpoint = Checkpoint {
        seq: 0,
        hash: GENESIS,
    };
}

fn put(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u64).to_be_bytes());
    out.extend_from_slice(part);
}

/// The bytes an event's hash covers: its sequence number, the previous hash and every
/// field, each length-prefixed so no two events encode alike.
pub fn hash_input(seq: u64, prev_hash: &[u8; 32], event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.record.len() + 256);
    out.extend_from_slice(b"keyward-audit-v1");
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(prev_hash);
    put(&mut out, event.event_id.as_bytes());
    out.extend_from_slice(&event.event_time.0.to_be_bytes());
    put(&mut out, event.event_source.as_bytes());
    put(&mut out, event.event_name.as_bytes());
    out.push(u8::from(event.read_only));
    put(
        &mut out,
        event.username.as_deref().unwrap_or_default().as_bytes(),
    );
    put(
        &mut out,
        event
            .access_key_id
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    out.extend_from_slice(&(event.resources.len() as u64).to_be_bytes());
    for (kind, name) in &event.resources {
        put(&mut out, kind.as_bytes());
        put(&mut out, name.as_bytes());
    }
    put(&mut out, event.account.as_bytes());
    put(&mut out, event.region.as_bytes());
    put(&mut out, event.record.as_bytes());
    out
}

/// Links `event` after `prev`: the new event's sequence number and hashes.
pub fn link(
    prev: Checkpoint,
    event: AuditEvent,
    sha256: impl Fn(&[u8]) -> [u8; 32],
) -> ChainedEvent {
    let seq = prev.seq + 1;
    let hash = sha256(&hash_input(seq, &prev.hash, &event));
    ChainedEvent {
        seq,
        prev_hash: prev.hash,
        hash,
        event,
    }
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {expected} is missing (the next event found is {found})")]
    Gap { expected: u64, found: u64 },
    #[error("event {seq} is out of order (after event {after})")]
    Reordered { seq: u64, after: u64 },
    #[error("event {seq} does not follow the hash of the event before it")]
    Unlinked { seq: u64 },
    #[error("event {seq} was altered: its contents do not match its hash")]
    Altered { seq: u64 },
}

/// Checks events in storage order from `start`. Returns the last checkpoint reached.
pub fn verify<'a>(
    start: Checkpoint,
    events: impl IntoIterator<Item = &'a ChainedEvent>,
    sha256: impl Fn(&[u8]) -> [u8; 32],
) -> Result<Checkpoint, ChainBreak> {
    let mut at = start;
    for event in events {
        if event.seq <= at.seq {
            return Err(ChainBreak::Reordered {
                seq: event.seq,
                after: at.seq,
            });
        }
        if event.seq != at.seq + 1 {
            return Err(ChainBreak::Gap {
                expected: at.seq + 1,
                found: event.seq,
            });
        }
        if event.prev_hash != at.hash {
            return Err(ChainBreak::Unlinked { seq: event.seq });
        }
        if sha256(&hash_input(event.seq, &event.prev_hash, &event.event)) != event.hash {
            return Err(ChainBreak::Altered { seq: event.seq });
        }
        at = Checkpoint {
            seq: event.seq,
            hash: event.hash,
        };
    }
    Ok(at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // A stand-in hash for tests (core has no SHA-256 of its own): still collision-free
    // enough to detect every edit made below.
    fn fake_sha(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut state: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, byte) in data.iter().enumerate() {
            state = (state ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
            out[i % 32] ^= (state >> 24) as u8;
        }
        out[..8].copy_from_slice(&state.to_be_bytes());
        out
    }

    fn event(name: &str) -> AuditEvent {
        AuditEvent {
            event_id: format!("id-{name}"),
            event_time: UnixMillis(1),
            event_source: "kms.amazonaws.com".into(),
            event_name: name.into(),
            read_only: false,
            username: Some("root".into()),
            access_key_id: Some("AKIA".into()),
            resources: vec![("AWS::KMS::Key".into(), "arn".into())],
            account: "000000000000".into(),
            region: "us-east-1".into(),
            record: format!("{{\"eventName\":\"{name}\"}}"),
        }
    }

    fn chain(n: usize) -> Vec<ChainedEvent> {
        let mut at = Checkpoint::GENESIS;
        (0..n)
            .map(|i| {
                let e = link(at, event(&format!("e{i}")), fake_sha);
                at = Checkpoint {
                    seq: e.seq,
                    hash: e.hash,
                };
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        assert_eq!(
            verify(Checkpoint::GENESIS, &events, fake_sha).unwrap().seq,
            5
        );
        // From a checkpoint (after pruning the first two).
        let cp = Checkpoint {
            seq: events[1].seq,
            hash: events[1].hash,
        };
        assert_eq!(verify(cp, &events[2..], fake_sha).unwrap().seq, 5);
    }

    #[test]
    fn gaps_edits_and_reorders_are_caught() {
        let events = chain(5);
        let mut gap = events.clone();
        gap.remove(2);
        assert_eq!(
            verify(Checkpoint::GENESIS, &gap, fake_sha),
            Err(ChainBreak::Gap {
                expected: 3,
                found: 4
            })
        );

        let mut edited = events.clone();
        edited[3].event.record = "{\"eventName\":\"Hidden\"}".into();
        assert_eq!(
            verify(Checkpoint::GENESIS, &edited, fake_sha),
            Err(ChainBreak::Altered { seq: 4 })
        );

        let mut renamed = events.clone();
        renamed[1].event.event_name = "Other".into();
        assert_eq!(
            verify(Checkpoint::GENESIS, &renamed, fake_sha),
            Err(ChainBreak::Altered { seq: 2 })
        );

        let mut swapped = events.clone();
        swapped.swap(1, 2);
        assert_eq!(
            verify(Checkpoint::GENESIS, &swapped, fake_sha),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );

        let mut relinked = events.clone();
        relinked.remove(2);
        relinked[2].seq = 3;
        assert_eq!(
            verify(Checkpoint::GENESIS, &relinked, fake_sha),
            Err(ChainBreak::Unlinked { seq: 3 })
        );

        let mut first_removed = events.clone();
        first_removed.remove(0);
        assert_eq!(
            verify(Checkpoint::GENESIS, &first_removed, fake_sha),
            Err(ChainBreak::Gap {
                expected: 1,
                found: 2
            })
        );
    }
}
