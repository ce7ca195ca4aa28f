//! KMS request and response shapes
