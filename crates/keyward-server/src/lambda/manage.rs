//! The function operations: create, read, list, change and delete. Every one authorizes
//! `lambda:<Action>` on the function's ARN through the same evaluation as every other service.

use keyward_core::function::{function_arn, FunctionRecord, LATEST};
use keyward_core::policy::{ConditionKeys, ResourceMode};
use keyward_core::UnixMillis;
use keyward_protocol::json::SecretText;
use keyward_protocol::lambda::{
    CreateFunctionRequest, EnvironmentResponse, EphemeralStorage, FunctionConfiguration,
    GetFunctionResponse, ListFunctionsRequest, ListFunctionsResponse, LoggingConfig, TracingConfig,
    UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use zeroize::Zeroizing;

use super::env::{self, Variables};
use super::{code, LambdaError};
use crate::auth::Caller;
use crate::state::AppState;

/// Bound on the decoded zip sent directly, as AWS's 50 MB.
pub(crate) const MAX_ZIP_BYTES: usize = 50 * 1024 * 1024;

/// Variables the Lambda runtime sets itself; a function may not set them.
const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// AWS's bound on the variables of a function, names and values together.
const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// A function name as the API takes it — a name, a partial ARN (`<account>:function:<name>`)
/// or a full ARN, each with an optional `:$LATEST` — as the name in the caller's account
/// and region.
pub(crate) fn resolve_name(caller: &Caller, given: &str) -> Result<String, LambdaError> {
    let parts: Vec<&str> = given.split(':').collect();
    let (account, region, name, qualifier) = match parts.as_slice() {
        ["arn", _, "lambda", region, account, "function", name] => {
            (Some(*account), Some(*region), *name, None)
        }
        ["arn", _, "lambda", region, account, "function", name, qualifier] => {
            (Some(*account), Some(*region), *name, Some(*qualifier))
        }
        [account, "function", name] => (Some(*account), None, *name, None),
        [account, "function", name, qualifier] => (Some(*account), None, *name, Some(*qualifier)),
        [name] => (None, None, *name, None),
        [name, qualifier] => (None, None, *name, Some(*qualifier)),
        _ => {
            return Err(LambdaError::NotFound(format!(
                "Function not found: {given}"
            )))
        }
    };
    let elsewhere = account.is_some_and(|a| a != caller.account.as_str())
        || region.is_some_and(|r| r != caller.region.as_str());
    let unknown_qualifier = qualifier.is_some_and(|q| q != LATEST);
    if elsewhere || unknown_qualifier || name.is_empty() {
        let mut arn = function_arn(
            region.unwrap_or(caller.region.as_str()),
            account.unwrap_or(caller.account.as_str()),
            name,
        );
        if let Some(qualifier) = qualifier {
            arn = format!("{arn}:{qualifier}");
        }
        return Err(LambdaError::NotFound(format!("Function not found: {arn}")));
    }
    Ok(name.to_owned())
}

impl AppState {
    pub(crate) async fn authorize_lambda(
        &self,
        caller: &Caller,
        action: &str,
        arn: &str,
    ) -> Result<(), LambdaError> {
        self.authorize(
            caller,
            action,
            arn,
            None,
            ResourceMode::Optional,
            ConditionKeys::new(),
        )
        .await
        .map_err(LambdaError::from)
    }

    /// The function, with its code; Lambda's `ResourceNotFoundException` when absent.
    pub(crate) async fn lambda_function(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<FunctionRecord, LambdaError> {
        let (account, region, n) = (
            caller.account.to_string(),
            caller.region.to_string(),
            name.to_owned(),
        );
        self.blocking(move |inner| Ok(inner.store.get_function(&account, &region, &n)?))
            .await?
            .ok_or_else(|| {
                LambdaError::NotFound(format!(
                    "Function not found: {}",
                    function_arn(caller.region.as_str(), caller.account.as_str(), name)
                ))
            })
    }

    pub(crate) async fn lambda_create(
        &self,
        caller: &Caller,
        request: CreateFunctionRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let arn = function_arn(
            caller.region.as_str(),
            caller.account.as_str(),
            &request.function_name,
        );
        if request.function_name.chars().count() > 64 {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64",
                request.function_name
            )));
        }
        if request.function_name.contains(':') {
            return Err(LambdaError::InvalidParameter(
                "Keyward creates functions by name; give FunctionName without an ARN.".into(),
            ));
        }
        self.authorize_lambda(caller, "lambda:CreateFunction", &arn)
            .await?;
        if request.package_type.as_deref().is_some_and(|p| p != "Zip") {
            return Err(unsupported_code());
        }
        let (Some(runtime), Some(handler)) = (request.runtime, request.handler) else {
            return Err(LambdaError::InvalidParameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.".into(),
            ));
        };
        check_runtime(&runtime)?;
        let timeout = check_timeout(request.timeout.unwrap_or(3))?;
        let memory_size = check_memory(request.memory_size.unwrap_or(128))?;
        if request.code.s3_bucket.is_some() || request.code.image_uri.is_some() {
            return Err(unsupported_code());
        }
        let zip = request.code.zip_file.ok_or_else(unsupported_code)?;
        let zip = check_zip(self, zip.into_inner()).await?;
        self.lambda_role(caller.account.as_str(), &request.role)
            .await?;
        let variables = variables_of(request.environment)?;
        let environment = env::seal(
            self,
            caller,
            request.kms_key_arn.as_deref(),
            &arn,
            &variables,
        )
        .await?;
        let record = FunctionRecord {
            account: caller.account.to_string(),
            region: caller.region.to_string(),
            name: request.function_name,
            runtime,
            handler,
            role: request.role,
            description: request.description.unwrap_or_default(),
            timeout,
            memory_size,
            kms_key_arn: request.kms_key_arn,
            environment,
            code_sha256: code::sha256_base64(&zip),
            code_size: zip.len() as u64,
            last_modified: self.inner.clock.now(),
            revision_id: uuid::Uuid::new_v4().to_string(),
            code: zip.to_vec(),
        };
        let stored = record.clone();
        self.blocking(move |inner| {
            inner
                .store
                .create_function(&stored)
                .map_err(keyward_core::KmsError::from)
        })
        .await
        .map_err(|e| match e {
            keyward_core::KmsError::AlreadyExists(message) => LambdaError::Conflict(message),
            other => LambdaError::from(other),
        })?;
        tracing::info!(function = %arn, "function created");
        Ok(configuration(&record, Some(&variables)))
    }

    pub(crate) async fn lambda_get_configuration(
        &self,
        caller: &Caller,
        name: &str,
        action: &str,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let name = resolve_name(caller, name)?;
        let arn = function_arn(caller.region.as_str(), caller.account.as_str(), &name);
        self.authorize_lambda(caller, action, &arn).await?;
        let record = self.lambda_function(caller, &name).await?;
        let variables = env::open(self, caller, &arn, record.environment.as_ref()).await?;
        Ok(configuration(&record, Some(&variables)))
    }

    pub(crate) async fn lambda_get(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<GetFunctionResponse, LambdaError> {
        Ok(GetFunctionResponse {
            configuration: self
                .lambda_get_configuration(caller, name, "lambda:GetFunction")
                .await?,
        })
    }

    pub(crate) async fn lambda_list(
        &self,
        caller: &Caller,
        request: ListFunctionsRequest,
    ) -> Result<ListFunctionsResponse, LambdaError> {
        let all = format!(
            "arn:aws:lambda:{}:{}:function:*",
            caller.region, caller.account
        );
        self.authorize_lambda(caller, "lambda:ListFunctions", &all)
            .await?;
        let (account, region) = (caller.account.to_string(), caller.region.to_string());
        let records = self
            .blocking(move |inner| Ok(inner.store.list_functions(&account, &region)?))
            .await?;
        let max = usize::try_from(request.max_items.unwrap_or(50).clamp(1, 10_000)).unwrap_or(50);
        let mut page: Vec<&FunctionRecord> = records
            .iter()
            .filter(|r| {
                request
                    .marker
                    .as_deref()
                    .is_none_or(|m| r.name.as_str() > m)
            })
            .take(max + 1)
            .collect();
        let next_marker = (page.len() > max).then(|| {
            page.truncate(max);
            page.last().map(|r| r.name.clone()).unwrap_or_default()
        });
        let mut functions = Vec::with_capacity(page.len());
        for record in page {
            // As Lambda lists them: the variables of the functions the caller may decrypt.
            let variables = env::open(self, caller, &record.arn(), record.environment.as_ref())
                .await
                .ok();
            functions.push(configuration(record, variables.as_ref()));
        }
        Ok(ListFunctionsResponse {
            functions,
            next_marker,
        })
    }

    pub(crate) async fn lambda_delete(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(), LambdaError> {
        let name = resolve_name(caller, name)?;
        let arn = function_arn(caller.region.as_str(), caller.account.as_str(), &name);
        self.authorize_lambda(caller, "lambda:DeleteFunction", &arn)
            .await?;
        let (account, region, n) = (
            caller.account.to_string(),
            caller.region.to_string(),
            name.clone(),
        );
        self.blocking(move |inner| {
            inner
                .store
                .delete_function(&account, &region, &n)
                .map_err(keyward_core::KmsError::from)
        })
        .await
        .map_err(not_found_from_kms)?;
        if let Some(runtime) = self.functions() {
            runtime
                .forget(caller.account.as_str(), caller.region.as_str(), &name)
                .await;
        }
        tracing::info!(function = %arn, "function deleted");
        Ok(())
    }

    pub(crate) async fn lambda_update_configuration(
        &self,
        caller: &Caller,
        request: UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let name = resolve_name(caller, &request.function_name)?;
        let arn = function_arn(caller.region.as_str(), caller.account.as_str(), &name);
        self.authorize_lambda(caller, "lambda:UpdateFunctionConfiguration", &arn)
            .await?;
        let mut record = self.lambda_function(caller, &name).await?;
        check_revision(&record, request.revision_id.as_deref())?;
        let expected = record.revision_id.clone();
        if let Some(runtime) = request.runtime {
            check_runtime(&runtime)?;
            record.runtime = runtime;
        }
        if let Some(handler) = request.handler {
            record.handler = handler;
        }
        if let Some(description) = request.description {
            record.description = description;
        }
        if let Some(timeout) = request.timeout {
            record.timeout = check_timeout(timeout)?;
        }
        if let Some(memory) = request.memory_size {
            record.memory_size = check_memory(memory)?;
        }
        if let Some(role) = request.role {
            self.lambda_role(caller.account.as_str(), &role).await?;
            record.role = role;
        }
        let key_changed = request.kms_key_arn.is_some();
        if let Some(key) = request.kms_key_arn {
            // An empty ARN goes back to the AWS managed key, as in Lambda.
            record.kms_key_arn = (!key.is_empty()).then_some(key);
        }
        // The map is replaced whole, as Lambda replaces it; else it is sealed again only
        // when its key changed.
        let environment_given = request.environment.is_some();
        let variables = match request.environment {
            Some(environment) => variables_of(Some(environment))?,
            None => env::open(self, caller, &arn, record.environment.as_ref()).await?,
        };
        if environment_given || key_changed {
            record.environment = env::seal(
                self,
                caller,
                record.kms_key_arn.as_deref(),
                &arn,
                &variables,
            )
            .await?;
        }
        self.lambda_write(caller, record, &expected, Some(&variables))
            .await
    }

    pub(crate) async fn lambda_update_code(
        &self,
        caller: &Caller,
        request: UpdateFunctionCodeRequest,
    ) -> Result<FunctionConfiguration, LambdaError> {
        let name = resolve_name(caller, &request.function_name)?;
        let arn = function_arn(caller.region.as_str(), caller.account.as_str(), &name);
        self.authorize_lambda(caller, "lambda:UpdateFunctionCode", &arn)
            .await?;
        if request.s3_bucket.is_some() || request.image_uri.is_some() {
            return Err(unsupported_code());
        }
        let zip = request.zip_file.ok_or_else(unsupported_code)?;
        let zip = check_zip(self, zip.into_inner()).await?;
        let mut record = self.lambda_function(caller, &name).await?;
        check_revision(&record, request.revision_id.as_deref())?;
        let variables = env::open(self, caller, &arn, record.environment.as_ref()).await?;
        if request.dry_run == Some(true) {
            return Ok(configuration(&record, Some(&variables)));
        }
        let expected = record.revision_id.clone();
        record.code_sha256 = code::sha256_base64(&zip);
        record.code_size = zip.len() as u64;
        record.code = zip.to_vec();
        self.lambda_write(caller, record, &expected, Some(&variables))
            .await
    }

    async fn lambda_write(
        &self,
        caller: &Caller,
        mut record: FunctionRecord,
        expected: &str,
        variables: Option<&Variables>,
    ) -> Result<FunctionConfiguration, LambdaError> {
        record.last_modified = self.inner.clock.now();
        record.revision_id = uuid::Uuid::new_v4().to_string();
        let stored = record.clone();
        let expected = expected.to_owned();
        self.blocking(move |inner| {
            inner
                .store
                .update_function(&stored, &expected)
                .map_err(|e| match e {
                    keyward_core::StoreError::Conflict => keyward_core::KmsError::InvalidState(
                        "conflict".into(),
                    ),
                    other => keyward_core::KmsError::from(other),
                })
        })
        .await
        .map_err(|e| match e {
            keyward_core::KmsError::InvalidState(_) => LambdaError::PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
            ),
            other => not_found_from_kms(other),
        })?;
        // Warm processes run the old code or configuration: they go.
        if let Some(runtime) = self.functions() {
            runtime
                .forget(
                    caller.account.as_str(),
                    caller.region.as_str(),
                    &record.name,
                )
                .await;
        }
        Ok(configuration(&record, variables))
    }
}

fn not_found_from_kms(err: keyward_core::KmsError) -> LambdaError {
    match err {
        keyward_core::KmsError::NotFound(message) => LambdaError::NotFound(message),
        other => LambdaError::from(other),
    }
}

fn check_revision(record: &FunctionRecord, given: Option<&str>) -> Result<(), LambdaError> {
    match given {
        Some(revision) if revision != record.revision_id => Err(LambdaError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

fn unsupported_code() -> LambdaError {
    LambdaError::InvalidParameter(
        "Keyward takes function code as a zip file in Code.ZipFile; S3 locations and container images are not supported.".into(),
    )
}

async fn check_zip(
    state: &AppState,
    zip: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, LambdaError> {
    if zip.len() > MAX_ZIP_BYTES {
        return Err(LambdaError::InvalidParameter(format!(
            "Zipped size must be smaller than {MAX_ZIP_BYTES} bytes"
        )));
    }
    let checked = state
        .blocking(move |_| Ok(code::check(&zip).map(|()| zip)))
        .await?;
    checked
}

/// The runtimes Keyward runs: Python 3 through the runtime interface client, and custom
/// runtimes (`provided`, `provided.al2`, `provided.al2023`) through their `bootstrap`.
fn check_runtime(runtime: &str) -> Result<(), LambdaError> {
    if runtime.starts_with("python3.") || runtime.starts_with("provided") {
        return Ok(());
    }
    Err(LambdaError::InvalidParameter(format!(
        "The runtime parameter of {runtime} is not supported by Keyward, which runs python3.x and provided.* functions."
    )))
}

fn check_timeout(timeout: i64) -> Result<u32, LambdaError> {
    if timeout > 900 {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"
        )));
    }
    u32::try_from(timeout).map_err(|_| LambdaError::Internal("timeout out of range".into()))
}

fn check_memory(memory: i64) -> Result<u32, LambdaError> {
    if memory > 10240 {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"
        )));
    }
    u32::try_from(memory).map_err(|_| LambdaError::Internal("memory size out of range".into()))
}

fn variables_of(
    environment: Option<keyward_protocol::lambda::Environment>,
) -> Result<Variables, LambdaError> {
    let variables: Variables = environment
        .and_then(|e| e.variables)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_inner()))
        .collect();
    let reserved: Vec<&str> = variables
        .keys()
        .filter(|k| RESERVED_VARIABLES.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    // Measured as Lambda measures it, the map as JSON; the text itself is never quoted.
    let size: usize = variables
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum::<usize>()
        + 2;
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(LambdaError::InvalidParameter(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.".into(),
        ));
    }
    Ok(variables)
}

/// Lambda's `LastModified`: `2019-08-14T22:26:11.234+0000`.
fn last_modified(at: UnixMillis) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    time.format(&format).unwrap_or_default()
}

/// The configuration as Lambda returns it; the variables in plaintext when given.
pub(crate) fn configuration(
    record: &FunctionRecord,
    variables: Option<&Variables>,
) -> FunctionConfiguration {
    let environment = variables
        .filter(|v| !v.is_empty())
        .map(|v| EnvironmentResponse {
            variables: v
                .iter()
                .map(|(k, v)| (k.clone(), SecretText::from(v.as_str())))
                .collect(),
        });
    FunctionConfiguration {
        function_name: record.name.clone(),
        function_arn: record.arn(),
        runtime: record.runtime.clone(),
        role: record.role.clone(),
        handler: record.handler.clone(),
        code_size: record.code_size,
        description: record.description.clone(),
        timeout: record.timeout,
        memory_size: record.memory_size,
        last_modified: last_modified(record.last_modified),
        code_sha256: record.code_sha256.clone(),
        version: LATEST,
        environment,
        kms_key_arn: record.kms_key_arn.clone(),
        tracing_config: TracingConfig {
            mode: "PassThrough",
        },
        revision_id: record.revision_id.clone(),
        state: "Active",
        last_update_status: "Successful",
        package_type: "Zip",
        architectures: [architecture()],
        ephemeral_storage: EphemeralStorage { size: 512 },
        logging_config: LoggingConfig {
            log_format: "Text",
            log_group: format!("/aws/lambda/{}", record.name),
        },
    }
}

/// The architecture as Lambda names it.
fn architecture() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::Identity;

    fn caller() -> Caller {
        Caller {
            account: keyward_core::AccountId::parse("000000000000").unwrap(),
            region: keyward_core::Region::parse("us-east-1").unwrap(),
            principal_arn: "arn:aws:iam::000000000000:root".into(),
            access_key_id: "AKIAEXAMPLEEXAMPLE".into(),
            identity: Identity::Root,
            source_ip: "127.0.0.1".into(),
        }
    }

    #[test]
    fn names_partial_and_full_arns_resolve() {
        let c = caller();
        for given in [
            "loadtest",
            "loadtest:$LATEST",
            "000000000000:function:loadtest",
            "arn:aws:lambda:us-east-1:000000000000:function:loadtest",
            "arn:aws:lambda:us-east-1:000000000000:function:loadtest:$LATEST",
        ] {
            assert_eq!(resolve_name(&c, given).unwrap(), "loadtest", "{given}");
        }
        for (given, message) in [
            (
                "arn:aws:lambda:eu-west-1:000000000000:function:loadtest",
                "Function not found: arn:aws:lambda:eu-west-1:000000000000:function:loadtest",
            ),
            (
                "loadtest:1",
                "Function not found: arn:aws:lambda:us-east-1:000000000000:function:loadtest:1",
            ),
            (
                "111111111111:function:loadtest",
                "Function not found: arn:aws:lambda:us-east-1:111111111111:function:loadtest",
            ),
        ] {
            match resolve_name(&c, given) {
                Err(LambdaError::NotFound(m)) => assert_eq!(m, message),
                other => panic!("{given}: {other:?}"),
            }
        }
    }

    #[test]
    fn reserved_and_oversized_variables_are_refused() {
        let env = |pairs: &[(&str, &str)]| keyward_protocol::lambda::Environment {
            variables: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), SecretText::from(*v)))
                    .collect(),
            ),
        };
        assert!(variables_of(Some(env(&[("USER_NAME", "x")]))).is_ok());
        match variables_of(Some(env(&[("AWS_REGION", "x")]))) {
            Err(LambdaError::InvalidParameter(m)) => assert!(m.ends_with("AWS_REGION")),
            other => panic!("{other:?}"),
        }
        let big = "v".repeat(5000);
        match variables_of(Some(env(&[("BIG", big.as_str())]))) {
            Err(LambdaError::InvalidParameter(m)) => assert!(!m.contains(&big)),
            other => panic!("{other:?}"),
        }
    }
}
