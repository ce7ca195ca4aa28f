//! What the client tools share about calls through the AWS SDK for Rust.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

/// A failed call in one line: the service's error code and message, or the chain of causes
/// of a transport failure. Never the raw response body, which for a response that could not
/// be parsed might hold a data key or a secret.
pub(crate) fn sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(context) = err {
        let service = context.err();
        return format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("(no message)")
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The service error code of a failed call, if the service answered.
pub(crate) fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}
