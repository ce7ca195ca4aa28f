//! Keyward's wire: everything between HTTP bytes and typed operations, with no server.
//!
//! - [`sigv4`] verifies AWS Signature Version 4 and hands back who signed the request.
//! - [`json`] is the AWS JSON 1.1 codec: it validates a body against the service model and
//!   decodes it into a typed request.
//! - [`query`] is the AWS Query codec (IAM, STS): a form-encoded request checked by the same
//!   model-driven validator, and XML responses laid out by the model.
//! - [`kms`], [`secretsmanager`], [`cloudtrail`], [`iam`] and [`sts`] are the typed operations of
//!   each service.
//! - [`lambda`] is Lambda's REST-JSON routes and typed requests.
//! - [`error`] is the wire form of every error: an exception name, a message and a status.

pub mod cloudtrail;
pub mod error;
pub mod iam;
pub mod json;
pub mod kms;
pub mod lambda;
pub mod query;
pub mod secretsmanager;
pub mod sigv4;
pub mod sts;

pub use error::WireError;
