//! Group commit for the audit trail. Requests hand their event to one writer thread and
//! wait; the thread takes every event waiting, links them into the chain, writes them in one
//! transaction (one fsync), and then answers each request. Under load, batches grow and the
//! cost of durability is shared.

use std::sync::Arc;

use keyward_core::audit::{link, AuditEvent, ChainedEvent, Checkpoint};
use keyward_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most events one transaction takes.
const MAX_BATCH: usize = 1024;
/// Events waiting for the writer before requests are made to wait for room.
const QUEUE: usize = 65_536;

struct Job {
    event: AuditEvent,
    done: oneshot::Sender<Result<(), String>>,
}

pub(crate) struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl AuditWriter {
    pub fn start(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let head = store.audit_head()?;
        let (jobs, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("keyward-audit".into())
            .spawn(move || run(store, head, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the audit writer: {e}")))?;
        Ok(Self { jobs })
    }

    /// Returns once the event is durable in the chain, or why it could not be written.
    pub async fn record(&self, event: AuditEvent) -> Result<(), String> {
        self.enqueue(event).await?.wait().await
    }

    /// Hands the event to the writer without waiting for it to be durable. Events are
    /// written in the order they are enqueued.
    pub async fn enqueue(&self, event: AuditEvent) -> Result<Pending, String> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { event, done })
            .await
            .map_err(|_| stopped())?;
        Ok(Pending(wait))
    }
}

/// An event handed to the writer; [`Pending::wait`] says whether it became durable.
pub(crate) struct Pending(oneshot::Receiver<Result<(), String>>);

impl Pending {
    pub async fn wait(self) -> Result<(), String> {
        self.0.await.map_err(|_| stopped())?
    }
}

fn stopped() -> String {
    "the audit writer has stopped".to_owned()
}

impl AuditWriter {}

/// Links `events` into the chain after `head`, moving them (records can be large).
fn chain(head: Checkpoint, events: Vec<AuditEvent>) -> Vec<ChainedEvent> {
    let mut at = head;
    events
        .into_iter()
        .map(|event| {
            let linked = link(at, event, keyward_crypto::sha256);
            at = Checkpoint {
                seq: linked.seq,
                hash: linked.hash,
            };
            linked
        })
        .collect()
}

/// How many times a batch is linked again after other writers' batches before its
/// requests fail.
const MAX_RELINKS: u64 = 100;

fn run(store: Arc<dyn Store>, mut head: Checkpoint, mut rx: mpsc::Receiver<Job>) {
    let mut events = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            events.push(job.event);
            waiting.push(job.done);
            if events.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let mut linked = chain(head, std::mem::take(&mut events));
        let mut result = store.append_audit(&linked);
        // Another writer (another node) moved the head: link again after it. Each retry
        // reads the head afresh, so it fails again only if yet another batch landed in
        // between; a short, growing pause lets a busy cluster's writers interleave.
        let mut attempt = 0u64;
        while result == Err(StoreError::Conflict) && attempt < MAX_RELINKS {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(attempt.min(10)));
            }
            attempt += 1;
            match store.audit_head() {
                Ok(current) => {
                    head = current;
                    linked = chain(head, linked.into_iter().map(|c| c.event).collect());
                    result = store.append_audit(&linked);
                }
                Err(err) => result = Err(err),
            }
        }
        let outcome = match result {
            Ok(()) => {
                if let Some(last) = linked.last() {
                    head = Checkpoint {
                        seq: last.seq,
                        hash: last.hash,
                    };
                }
                Ok(())
            }
            Err(err) => {
                tracing::error!(error = %err, events = linked.len(), "audit events could not be written; their requests fail");
                // The head may have moved or not; read it again before the next batch.
                if let Ok(current) = store.audit_head() {
                    head = current;
                }
                Err(err.to_string())
            }
        };
        for done in waiting.drain(..) {
            let _ = done.send(outcome.clone());
        }
    }
}
