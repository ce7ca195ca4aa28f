//! The wire protocols a run can speak, behind one small enum the workers call.

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;

use crate::agent::Agent;
use crate::request::{Endpoint, Signer};
use crate::transit::Transit;
use crate::workload::{self, Fixtures, Workload};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// AWS JSON 1.1 signed with SigV4 (Keyward, AWS, moto, LocalStack, ...).
    Aws,
    /// The OpenBao / Vault transit engine, authenticated by a token.
    #[value(name = "openbao", alias = "vault")]
    OpenBao,
    /// A local secrets agent (`keyward agent`, the AWS Secrets Manager Agent): plain GETs
    /// with a token header, answered from its cache.
    Agent,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Aws => "aws",
            Protocol::OpenBao => "openbao",
            Protocol::Agent => "agent",
        }
    }
}

/// A configured client of one protocol.
pub enum Api {
    Aws(Signer),
    OpenBao(Transit),
    Agent(Agent),
}

impl Api {
    pub fn protocol(&self) -> Protocol {
        match self {
            Api::Aws(_) => Protocol::Aws,
            Api::OpenBao(_) => Protocol::OpenBao,
            Api::Agent(_) => Protocol::Agent,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Api::Aws(signer) => &signer.endpoint,
            Api::OpenBao(transit) => &transit.endpoint,
            Api::Agent(agent) => &agent.endpoint,
        }
    }

    /// Creates what `workload` needs (keys, a ciphertext, a secret) before the run.
    pub async fn setup(&self, workload: Workload) -> Result<Fixtures, String> {
        match self {
            Api::Aws(signer) => workload::setup(workload, signer).await,
            Api::OpenBao(transit) => transit.setup(workload).await,
            Api::Agent(agent) => agent.setup().await,
        }
    }

    /// The next request of `workload`, ready to send (signed at `now` for AWS).
    pub fn next_request(
        &self,
        workload: Workload,
        fixtures: &Fixtures,
        rng: &mut fastrand::Rng,
        now: SystemTime,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        match self {
            Api::Aws(signer) => {
                let (service, operation, body) = workload::next_call(workload, fixtures, rng);
                signer.build(service, operation, body, now)
            }
            Api::OpenBao(transit) => transit.next_request(workload, fixtures, rng),
            Api::Agent(agent) => agent.build(),
        }
    }

    /// How a failed response is counted in the report.
    pub fn error_code(&self, status: http::StatusCode, body: &[u8]) -> String {
        match self {
            Api::Aws(_) => crate::client::error_code(status, body),
            Api::OpenBao(_) => crate::transit::error_code(status, body),
            Api::Agent(_) => crate::agent::error_code(status, body),
        }
    }
}
