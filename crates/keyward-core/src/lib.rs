//! Keyward's domain, free of I/O: names and ARNs, KMS keys and their state machine,
//! aliases, the errors a user can meet, and the `Store` and `Clock` traits the server
//! plugs real backends into.

pub mod alias;
pub mod audit;
pub mod clock;
pub mod error;
pub mod function;
pub mod grant;
pub mod iam;
pub mod ids;
pub mod key;
pub mod password;
pub mod policy;
pub mod rotation;
pub mod secret;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, UnixMillis};
pub use error::KmsError;
pub use ids::{AccountId, KeyRef, Region};
pub use store::{Store, StoreError};
