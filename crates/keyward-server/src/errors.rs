//! The one place a domain error becomes a wire exception.

use keyward_core::secret::SecretsError;
use keyward_core::KmsError;
use keyward_protocol::WireError;

pub(crate) fn kms_to_wire(err: &KmsError) -> WireError {
    let (code, message): (&'static str, String) = match err {
        KmsError::NotFound(m) => ("NotFoundException", m.clone()),
        KmsError::Disabled(m) => ("DisabledException", m.clone()),
        KmsError::InvalidState(m) => ("KMSInvalidStateException", m.clone()),
        KmsError::AlreadyExists(m) => ("AlreadyExistsException", m.clone()),
        KmsError::InvalidAliasName(m) => ("InvalidAliasNameException", m.clone()),
        KmsError::NotAuthorized(m) => ("NotAuthorizedException", m.clone()),
        KmsError::AccessDenied(m) => ("AccessDeniedException", m.clone()),
        KmsError::IncorrectKey => ("IncorrectKeyException", err.to_string()),
        KmsError::InvalidCiphertext => ("InvalidCiphertextException", String::new()),
        KmsError::InvalidKeyUsage(m) => ("InvalidKeyUsageException", m.clone()),
        KmsError::InvalidMarker(m) => ("InvalidMarkerException", m.clone()),
        KmsError::InvalidSignature => ("KMSInvalidSignatureException", String::new()),
        KmsError::InvalidMac => ("KMSInvalidMacException", String::new()),
        KmsError::IncorrectKeyMaterial(m) => ("IncorrectKeyMaterialException", m.clone()),
        KmsError::ExpiredImportToken(m) => ("ExpiredImportTokenException", m.clone()),
        KmsError::InvalidImportToken(m) => ("InvalidImportTokenException", m.clone()),
        KmsError::Validation(m) => ("ValidationException", m.clone()),
        KmsError::UnsupportedOperation(m) => ("UnsupportedOperationException", m.clone()),
        KmsError::LimitExceeded(m) => ("LimitExceededException", m.clone()),
        KmsError::MalformedPolicyDocument(m) => ("MalformedPolicyDocumentException", m.clone()),
        KmsError::Tag(m) => ("TagException", m.clone()),
        KmsError::CustomKeyStoreNotFound(m) => ("CustomKeyStoreNotFoundException", m.clone()),
        KmsError::InvalidArn(m) => ("InvalidArnException", m.clone()),
        KmsError::InvalidGrantToken(m) => ("InvalidGrantTokenException", m.clone()),
        KmsError::InvalidGrantId(m) => ("InvalidGrantIdException", m.clone()),
        KmsError::DryRun => ("DryRunOperationException", err.to_string()),
        KmsError::Internal(detail) => {
            tracing::error!(error = %detail, "internal failure");
            return WireError::internal();
        }
    };
    WireError::client(code, message)
}

pub(crate) fn secrets_to_wire(err: &SecretsError) -> WireError {
    let (code, message): (&'static str, &String) = match err {
        SecretsError::ResourceNotFound(m) => ("ResourceNotFoundException", m),
        SecretsError::AccessDenied(m) => ("AccessDeniedException", m),
        SecretsError::InvalidParameter(m) => ("InvalidParameterException", m),
        SecretsError::InvalidRequest(m) => ("InvalidRequestException", m),
        SecretsError::ResourceExists(m) => ("ResourceExistsException", m),
        SecretsError::LimitExceeded(m) => ("LimitExceededException", m),
        SecretsError::EncryptionFailure(m) => ("EncryptionFailure", m),
        SecretsError::DecryptionFailure(m) => ("DecryptionFailure", m),
        SecretsError::MalformedPolicyDocument(m) => ("MalformedPolicyDocumentException", m),
        SecretsError::PreconditionNotMet(m) => ("PreconditionNotMetException", m),
        SecretsError::PublicPolicy(m) => ("PublicPolicyException", m),
        SecretsError::InvalidNextToken(m) => ("InvalidNextTokenException", m),
        SecretsError::Validation(m) => ("ValidationException", m),
        SecretsError::Internal(detail) => {
            tracing::error!(error = %detail, "internal failure");
            return WireError::internal();
        }
    };
    WireError::client(code, message.clone())
}
