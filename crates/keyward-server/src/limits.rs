//! What keeps one client, or too many, from taking the server down: bounds on connections
//! and on requests in flight, and deadlines for slow clients and slow requests. Quotas per
//! account are in [`crate::quotas`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keyward_protocol::WireError;

use crate::quotas::QuotaService;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (TLS handshakes included); past it the listener stops
    /// accepting and new connections wait in the kernel's backlog.
    pub max_connections: usize,
    /// Requests being handled at once; past it a request is answered at once with the
    /// throttling error, which SDKs retry with backoff.
    pub max_in_flight: usize,
    /// How long a client has to send a request's headers, from the connection's start or
    /// the end of the previous response; so also how long a keep-alive connection may idle.
    pub header_timeout: Duration,
    /// How long a client has to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// How long a request may take in all before the client is answered with an internal
    /// error; the work goes on to its end (and its audit event), so what it committed
    /// stays committed.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_in_flight: 1024,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Requests in flight, counted without a lock.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
}

/// One request's place among those in flight, given back when dropped.
pub(crate) struct InFlightGuard {
    state: AppState,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.state
            .inner
            .in_flight
            .count
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl AppState {
    /// A place for one more request, unless `max_in_flight` are being handled already.
    pub(crate) fn enter_request(&self) -> Option<InFlightGuard> {
        let in_flight = &self.inner.in_flight;
        let before = in_flight.count.fetch_add(1, Ordering::AcqRel);
        let guard = InFlightGuard {
            state: self.clone(),
        };
        (before < self.inner.limits.max_in_flight).then_some(guard)
    }

    /// Whether the account may make one more request of this operation now; always when
    /// quotas are off.
    pub(crate) fn within_quota(
        &self,
        account: &keyward_core::AccountId,
        service: QuotaService,
        operation: &str,
        family: impl FnOnce() -> crate::quotas::Family,
    ) -> Result<(), WireError> {
        match &self.inner.quotas {
            Some(quotas) if !quotas.admit(account, service, operation, family()) => {
                Err(throttled(service))
            }
            _ => Ok(()),
        }
    }
}

/// The throttling error of each service, as AWS words it. IAM and STS get the Query
/// protocol's `Throttling` from [`crate::query::to_query_error`].
pub(crate) fn throttled(service: QuotaService) -> WireError {
    let message = match service {
        QuotaService::Kms => {
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
        }
        _ => "Rate exceeded",
    };
    WireError::client("ThrottlingException", message)
}

/// The answer to a client whose body did not arrive in time.
pub(crate) fn body_timed_out() -> WireError {
    WireError {
        code: "RequestTimeoutException",
        message: "Your socket connection to the server was not read from or written to within \
                  the timeout period."
            .into(),
        status: 408,
    }
}
