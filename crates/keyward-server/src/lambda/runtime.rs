//! Running functions: per function a pool of worker processes, up to a concurrency limit,
//! each with its own Runtime API ([`super::api`]) on a loopback port. Warm processes are
//! reused, one invocation at a time; a timeout, a crash or a change of the function ends
//! the process. Nothing outlives the server: every child is killed when its worker is
//! dropped, [`Runtime::shutdown`] drops them all, and on Linux the kernel kills them when
//! the server is killed ([`super::child`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use keyward_core::function::{FunctionRecord, LATEST};
use keyward_core::UnixMillis;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::api::{self, ApiState, Event, Outcome};
use super::{code, env, LambdaError};
use crate::auth::Caller;
use crate::state::AppState;

/// How long a process may take to start before its first event, as Lambda's init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// A warm process is retired when its role session has less than this left.
const CREDENTIAL_MARGIN_MS: i64 = 10 * 60 * 1000;
/// A warm process unused for this long is ended.
const IDLE_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How much of a process's recent output is kept for the log tail.
const LOG_KEEP_BYTES: usize = 64 * 1024;
/// Lambda's log tail: the last 4 KB.
const TAIL_BYTES: usize = 4096;
/// After the result arrives, output the process wrote just before it may still be in the
/// pipe: wait this long for it, at most.
const LOG_SETTLE: Duration = Duration::from_millis(50);

/// How the server runs functions.
#[derive(Debug, Clone)]
pub struct FunctionSettings {
    /// The Python interpreter for `python3.x` functions (it must have `awslambdaric`).
    pub python: String,
    /// Processes per function at most.
    pub concurrency: usize,
    /// A failed secret rotation is retried after this long, then after twice as long, and
    /// so on.
    pub rotation_retry: Duration,
}

impl Default for FunctionSettings {
    fn default() -> Self {
        Self {
            python: "python3".into(),
            concurrency: 4,
            rotation_retry: Duration::from_secs(300),
        }
    }
}

/// A rotation running on this node; dropping it ends the claim.
pub(crate) struct RotationClaim {
    runtime: Arc<Runtime>,
    secret: uuid::Uuid,
}

impl Drop for RotationClaim {
    fn drop(&mut self) {
        if let Ok(mut rotating) = self.runtime.rotating.lock() {
            rotating.remove(&self.secret);
        }
    }
}

pub(crate) struct Runtime {
    settings: FunctionSettings,
    code_root: PathBuf,
    data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`: where functions find Keyward.
    endpoint: OnceLock<String>,
    pools: tokio::sync::Mutex<HashMap<(String, String, String), Arc<Pool>>>,
    stopping: AtomicBool,
    /// Secrets whose rotation runs on this node.
    rotating: Mutex<std::collections::HashSet<uuid::Uuid>>,
}

struct Pool {
    revision_id: String,
    idle: Mutex<Vec<Worker>>,
    permits: Arc<Semaphore>,
    retired: AtomicBool,
}

/// What a process wrote, the recent part of it.
#[derive(Default)]
struct LogSink {
    bytes: Mutex<Vec<u8>>,
    written: std::sync::atomic::AtomicU64,
}

impl LogSink {
    fn push(&self, chunk: &[u8]) {
        self.written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        if let Ok(mut bytes) = self.bytes.lock() {
            bytes.extend_from_slice(chunk);
            if bytes.len() > LOG_KEEP_BYTES {
                let excess = bytes.len() - LOG_KEEP_BYTES;
                bytes.drain(..excess);
            }
        }
    }

    fn take(&self) -> Vec<u8> {
        self.bytes
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

struct Worker {
    child: Child,
    api: Arc<ApiState>,
    tasks: Vec<JoinHandle<()>>,
    log: Arc<LogSink>,
    spawned: Instant,
    last_used: Instant,
    expires: UnixMillis,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The result of one invocation, as `Invoke` answers it.
pub(crate) struct Invocation {
    pub payload: Vec<u8>,
    /// `Unhandled` when the function failed.
    pub function_error: Option<&'static str>,
    /// The log of this invocation (START … REPORT).
    pub log: String,
}

impl Invocation {
    /// The last 4 KB of the log, base64, for `X-Amz-Log-Result`.
    pub(crate) fn tail(&self) -> String {
        use base64::Engine;
        let bytes = self.log.as_bytes();
        let mut start = bytes.len().saturating_sub(TAIL_BYTES);
        while start < bytes.len() && !self.log.is_char_boundary(start) {
            start += 1;
        }
        base64::engine::general_purpose::STANDARD.encode(&bytes[start..])
    }
}

impl Runtime {
    pub(crate) fn new(settings: FunctionSettings, data_dir: &std::path::Path) -> Self {
        Self {
            settings,
            code_root: data_dir.join("functions"),
            data_dir: data_dir.to_owned(),
            endpoint: OnceLock::new(),
            pools: tokio::sync::Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            rotating: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// How long after a first failure a rotation is retried.
    pub(crate) fn rotation_retry(&self) -> Duration {
        self.settings.rotation_retry
    }

    /// Claims the rotation of `secret` on this node; `None` when one is running already.
    pub(crate) fn start_rotation(self: &Arc<Self>, secret: uuid::Uuid) -> Option<RotationClaim> {
        let mut rotating = self.rotating.lock().ok()?;
        rotating.insert(secret).then(|| RotationClaim {
            runtime: self.clone(),
            secret,
        })
    }

    pub(crate) fn set_endpoint(&self, endpoint: String) {
        let _ = self.endpoint.set(endpoint);
    }

    /// Ends warm processes that idled too long, lost their credentials' margin or died;
    /// run every minute until the server stops.
    pub(crate) async fn reap_periodically(self: Arc<Self>, clock: Arc<dyn keyward_core::Clock>) {
        while !self.stopping.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let pools: Vec<Arc<Pool>> = self.pools.lock().await.values().cloned().collect();
            let now = clock.now();
            for pool in pools {
                if let Ok(mut idle) = pool.idle.lock() {
                    idle.retain_mut(|worker| usable(worker, now));
                }
            }
        }
    }

    /// Ends every process; invocations in progress end with their process.
    pub(crate) async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let pools: Vec<Arc<Pool>> = self.pools.lock().await.drain().map(|(_, p)| p).collect();
        for pool in pools {
            retire(&pool);
        }
    }

    /// Ends the processes of a function that changed or went.
    pub(crate) async fn forget(&self, account: &str, region: &str, name: &str) {
        let key = (account.to_owned(), region.to_owned(), name.to_owned());
        if let Some(pool) = self.pools.lock().await.remove(&key) {
            retire(&pool);
        }
    }

    async fn pool(&self, record: &FunctionRecord) -> Arc<Pool> {
        let key = (
            record.account.clone(),
            record.region.clone(),
            record.name.clone(),
        );
        let mut pools = self.pools.lock().await;
        if let Some(pool) = pools.get(&key) {
            if pool.revision_id == record.revision_id {
                return pool.clone();
            }
            retire(pool);
        }
        let pool = Arc::new(Pool {
            revision_id: record.revision_id.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(self.settings.concurrency.max(1))),
            retired: AtomicBool::new(false),
        });
        pools.insert(key, pool.clone());
        pool
    }

    /// Runs one invocation of `record` with `payload` and waits for its result.
    pub(crate) async fn invoke(
        &self,
        state: &AppState,
        record: &FunctionRecord,
        payload: Bytes,
    ) -> Result<Invocation, LambdaError> {
        let request_id = crate::audit::new_id();
        let pool = self.pool(record).await;
        let timeout = Duration::from_secs(u64::from(record.timeout));
        let permit: OwnedSemaphorePermit =
            match tokio::time::timeout(timeout, pool.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(LambdaError::TooManyRequests("Rate Exceeded.".into())),
            };
        let warm = take_idle(&pool, state.inner.clock.now());
        let (mut worker, cold) = match warm {
            Some(worker) => (worker, false),
            None => match self.spawn(state, record).await {
                Ok(worker) => (worker, true),
                Err(Spawn::Lambda(err)) => return Err(err),
                Err(Spawn::Process(message)) => {
                    let invocation = failed_start(&request_id, record, &message);
                    self.keep_log(record, &invocation).await;
                    return Ok(invocation);
                }
            },
        };
        let result = run(&mut worker, record, &request_id, payload, cold).await;
        drop(permit);
        let (invocation, reusable) = result;
        worker.last_used = Instant::now();
        if reusable && !pool.retired.load(Ordering::SeqCst) && !self.stopping.load(Ordering::SeqCst)
        {
            if let Ok(mut idle) = pool.idle.lock() {
                idle.push(worker);
            }
        }
        self.keep_log(record, &invocation).await;
        Ok(invocation)
    }

    /// Appends the invocation's log to the function's log file, for `keyward logs`.
    async fn keep_log(&self, record: &FunctionRecord, invocation: &Invocation) {
        let (data_dir, log) = (self.data_dir.clone(), invocation.log.clone());
        let (account, region, name) = (
            record.account.clone(),
            record.region.clone(),
            record.name.clone(),
        );
        let written = tokio::task::spawn_blocking(move || {
            crate::function_logs::append(&data_dir, &account, &region, &name, &log)
        })
        .await;
        if let Ok(Err(err)) | Err(err) = written.map_err(std::io::Error::other) {
            tracing::warn!(function = %record.arn(), error = %err, "could not keep the function's log");
        }
    }

    async fn spawn(&self, state: &AppState, record: &FunctionRecord) -> Result<Worker, Spawn> {
        let endpoint = self
            .endpoint
            .get()
            .cloned()
            .ok_or_else(|| Spawn::Lambda(LambdaError::Internal("no endpoint yet".into())))?;
        // The code, unpacked once per version of it.
        let hex_sha = hex::encode(keyward_crypto::sha256(&record.code));
        let task_root = self
            .code_root
            .join(&record.account)
            .join(&record.region)
            .join(&record.name)
            .join(hex_sha);
        if !task_root.is_dir() {
            let zip = record.code.clone();
            let target = task_root.clone();
            state
                .blocking(move |_| {
                    Ok(code::unpack(&zip, &target).map_err(|e| match e {
                        LambdaError::Internal(detail) => keyward_core::KmsError::Internal(detail),
                        other => keyward_core::KmsError::Internal(other.to_string()),
                    }))
                })
                .await
                .map_err(|e| Spawn::Lambda(e.into()))?
                .map_err(|e| Spawn::Lambda(e.into()))?;
        }
        // The role's session, and the variables opened as that session through Lambda.
        let role = state
            .lambda_role(&record.account, &record.role)
            .await
            .map_err(Spawn::Lambda)?;
        let region = keyward_core::Region::parse(&record.region)
            .ok_or_else(|| Spawn::Lambda(LambdaError::Internal("stored region".into())))?;
        let session = state
            .lambda_session(&role, &record.name, &region)
            .map_err(Spawn::Lambda)?;
        let caller: &Caller = &session.caller;
        let variables = env::open(state, caller, &record.arn(), record.environment.as_ref())
            .await
            .map_err(Spawn::Lambda)?;

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Spawn::Lambda(LambdaError::Internal(e.to_string())))?;
        let port = listener
            .local_addr()
            .map_err(|e| Spawn::Lambda(LambdaError::Internal(e.to_string())))?
            .port();
        let api_state = Arc::new(ApiState::default());
        let server = tokio::spawn({
            let router = api::router(api_state.clone());
            async move {
                let _ = axum::serve(listener, router).await;
            }
        });

        let mut command = if record.runtime.starts_with("python") {
            let mut command = Command::new(&self.settings.python);
            command.arg("-m").arg("awslambdaric").arg(&record.handler);
            command
        } else {
            Command::new(task_root.join("bootstrap"))
        };
        command
            .current_dir(&task_root)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        super::child::die_with_server(&mut command);
        for (name, value) in &variables {
            command.env(name, value.as_str());
        }
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let log_stream = format!(
            "{}/[{LATEST}]{}",
            crate::audit::rfc3339(state.inner.clock.now())
                .get(..10)
                .unwrap_or_default()
                .replace('-', "/"),
            uuid::Uuid::new_v4().simple()
        );
        let fixed = [
            ("LANG", "en_US.UTF-8".to_owned()),
            ("TZ", ":UTC".to_owned()),
            ("PYTHONUNBUFFERED", "1".to_owned()),
            ("PYTHONPATH", task_root.display().to_string()),
            ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
            ("_HANDLER", record.handler.clone()),
            (
                "AWS_EXECUTION_ENV",
                format!("AWS_Lambda_{}", record.runtime),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", record.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", LATEST.to_owned()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                record.memory_size.to_string(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", record.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream),
            ("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}")),
            ("AWS_REGION", record.region.clone()),
            ("AWS_DEFAULT_REGION", record.region.clone()),
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("SECRETS_MANAGER_ENDPOINT", endpoint),
            ("AWS_ACCESS_KEY_ID", session.claims.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY",
                session.claims.secret_access_key.clone(),
            ),
            ("AWS_SESSION_TOKEN", session.token.clone()),
        ];
        for (name, value) in fixed {
            command.env(name, value);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                server.abort();
                let program = if record.runtime.starts_with("python") {
                    self.settings.python.clone()
                } else {
                    "bootstrap".to_owned()
                };
                return Err(Spawn::Process(format!("fork/exec {program}: {err}")));
            }
        };
        let log = Arc::new(LogSink::default());
        let mut tasks = vec![server];
        if let Some(stdout) = child.stdout.take() {
            tasks.push(tokio::spawn(pump(stdout, log.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            tasks.push(tokio::spawn(pump(stderr, log.clone())));
        }
        tracing::debug!(function = %record.arn(), "started a function process");
        Ok(Worker {
            child,
            api: api_state,
            tasks,
            log,
            spawned: Instant::now(),
            last_used: Instant::now(),
            expires: UnixMillis(session.claims.expires),
        })
    }
}

enum Spawn {
    Lambda(LambdaError),
    /// The process could not be started.
    Process(String),
}

fn retire(pool: &Pool) {
    pool.retired.store(true, Ordering::SeqCst);
    if let Ok(mut idle) = pool.idle.lock() {
        idle.clear();
    }
}

/// A warm process that is still alive, recently used and has credentials for a while yet.
fn take_idle(pool: &Pool, now: UnixMillis) -> Option<Worker> {
    let mut idle = pool.idle.lock().ok()?;
    while let Some(mut worker) = idle.pop() {
        if usable(&mut worker, now) {
            return Some(worker);
        }
    }
    None
}

fn usable(worker: &mut Worker, now: UnixMillis) -> bool {
    let alive = matches!(worker.child.try_wait(), Ok(None));
    let fresh = worker.last_used.elapsed() < IDLE_LIMIT;
    let credentials = worker.expires.0 - now.0 > CREDENTIAL_MARGIN_MS;
    alive && fresh && credentials
}

async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, log: Arc<LogSink>) {
    let mut buffer = vec![0u8; 8192];
    // Ends at end of file: when the process exits or the worker kills it.
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => log.push(&buffer[..n]),
        }
    }
}

/// What an invocation that could not start its process answers.
fn failed_start(request_id: &str, record: &FunctionRecord, message: &str) -> Invocation {
    let error = serde_json::json!({
        "errorMessage": format!("RequestId: {request_id} Error: {message}"),
        "errorType": "Runtime.InvalidEntrypoint",
    });
    let log = format!(
        "START RequestId: {request_id} Version: {LATEST}\n{message}\nEND RequestId: {request_id}\n{}\n",
        report(request_id, 0.0, record.memory_size, 0, None)
    );
    Invocation {
        payload: serde_json::to_vec(&error).unwrap_or_default(),
        function_error: Some("Unhandled"),
        log,
    }
}

fn report(
    request_id: &str,
    duration_ms: f64,
    memory_size: u32,
    max_memory_mb: u64,
    init_ms: Option<f64>,
) -> String {
    let billed = duration_ms.ceil().max(1.0) as u64;
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_size} MB\tMax Memory Used: {max_memory_mb} MB"
    );
    if let Some(init) = init_ms {
        line.push_str(&format!("\tInit Duration: {init:.2} ms"));
    }
    line.push('\t');
    line
}

/// The process's peak resident memory, in MB (Linux; 0 elsewhere).
fn max_memory_mb(child: &Child) -> u64 {
    let Some(pid) = child.id() else {
        return 0;
    };
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb.div_ceil(1024))
        .unwrap_or(0)
}

/// Waits until the process's output has stopped arriving, briefly.
async fn settle(log: &LogSink) {
    let until = Instant::now() + LOG_SETTLE;
    let mut seen = log.written();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = log.written();
        if now == seen {
            return;
        }
        seen = now;
    }
}

fn exit_message(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => match status.code() {
            Some(code) => format!("Runtime exited with error: exit status {code}"),
            None => format!("Runtime exited with error: {status}"),
        },
        Err(err) => format!("Runtime exited with error: {err}"),
    }
}

fn error_document(request_id: &str, kind: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "errorType": kind,
        "errorMessage": format!("RequestId: {request_id} Error: {message}"),
    }))
    .unwrap_or_default()
}

/// One invocation on one process. Returns the result and whether the process may be used
/// again.
async fn run(
    worker: &mut Worker,
    record: &FunctionRecord,
    request_id: &str,
    payload: Bytes,
    cold: bool,
) -> (Invocation, bool) {
    let timeout = Duration::from_secs(u64::from(record.timeout));
    let (picked_tx, picked_rx) = oneshot::channel();
    let (outcome_tx, outcome_rx) = oneshot::channel();
    worker.api.submit(
        Event {
            request_id: request_id.to_owned(),
            payload,
            function_arn: record.arn(),
            timeout_ms: timeout.as_millis() as u64,
        },
        picked_tx,
        outcome_tx,
    );
    let mut outcome_rx = outcome_rx;
    // Initialization: until the process takes the event (or says it cannot start).
    let picked: Result<(), (Vec<u8>, &'static str, String)> = tokio::select! {
        taken = picked_rx => match taken {
            Ok(_) => Ok(()),
            Err(_) => Ok(()),
        },
        outcome = &mut outcome_rx => {
            // An init error posted before the event was taken.
            let body = match outcome {
                Ok(Outcome::InitError(body) | Outcome::Error(body) | Outcome::Response(body)) => body.to_vec(),
                Err(_) => error_document(request_id, "Runtime.Unknown", "Runtime failed to start"),
            };
            Err((body, "Unhandled", "init error".to_owned()))
        }
        status = worker.child.wait() => {
            let message = exit_message(status);
            Err((error_document(request_id, "Runtime.ExitError", &message), "Unhandled", message))
        }
        _ = tokio::time::sleep(INIT_LIMIT) => {
            let message = format!("Task timed out after {:.2} seconds", INIT_LIMIT.as_secs_f64());
            Err((error_document(request_id, "Sandbox.Timedout", &message), "Unhandled", message))
        }
    };
    let init_output = worker.log.take();
    let init_ms = (cold && worker.api.first_next.get().is_some()).then(|| {
        worker
            .api
            .first_next
            .get()
            .map(|t| t.saturating_duration_since(worker.spawned).as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    });
    let started = Instant::now();
    let mut log = String::from_utf8_lossy(&init_output).into_owned();
    log.push_str(&format!(
        "START RequestId: {request_id} Version: {LATEST}\n"
    ));
    let (payload, function_error, reusable, note) = match picked {
        Err((body, error, message)) => (body, Some(error), false, Some(message)),
        Ok(()) => {
            tokio::select! {
                outcome = &mut outcome_rx => match outcome {
                    Ok(Outcome::Response(body)) => (body.to_vec(), None, true, None),
                    Ok(Outcome::Error(body)) => (body.to_vec(), Some("Unhandled"), true, None),
                    Ok(Outcome::InitError(body)) => (body.to_vec(), Some("Unhandled"), false, None),
                    Err(_) => (error_document(request_id, "Runtime.Unknown", "the runtime went away"), Some("Unhandled"), false, None),
                },
                status = worker.child.wait() => {
                    let message = exit_message(status);
                    (error_document(request_id, "Runtime.ExitError", &message), Some("Unhandled"), false, Some(message))
                }
                _ = tokio::time::sleep(timeout) => {
                    let message = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
                    let _ = worker.child.start_kill();
                    (error_document(request_id, "Sandbox.Timedout", &message), Some("Unhandled"), false, Some(message))
                }
            }
        }
    };
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    settle(&worker.log).await;
    let memory = max_memory_mb(&worker.child);
    let output = worker.log.take();
    log.push_str(&String::from_utf8_lossy(&output));
    if !log.ends_with('\n') {
        log.push('\n');
    }
    if let Some(note) = note {
        log.push_str(&format!(
            "{} {request_id} {note}\n",
            crate::audit::rfc3339(UnixMillis(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            ))
        ));
    }
    log.push_str(&format!("END RequestId: {request_id}\n"));
    log.push_str(&report(
        request_id,
        duration_ms,
        record.memory_size,
        memory,
        init_ms,
    ));
    log.push('\n');
    (
        Invocation {
            payload,
            function_error,
            log,
        },
        reusable,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_4_kb_on_a_character_boundary() {
        use base64::Engine;
        let log = format!("{}END\n", "é".repeat(3000));
        let invocation = Invocation {
            payload: Vec::new(),
            function_error: None,
            log,
        };
        let tail = base64::engine::general_purpose::STANDARD
            .decode(invocation.tail())
            .unwrap();
        assert!(tail.len() <= TAIL_BYTES);
        let text = String::from_utf8(tail).unwrap();
        assert!(text.ends_with("END\n") && text.starts_with('é'));
    }

    #[test]
    fn reports_look_like_lambdas() {
        assert_eq!(
            report("id", 2092.16, 128, 67, Some(330.38)),
            "REPORT RequestId: id\tDuration: 2092.16 ms\tBilled Duration: 2093 ms\tMemory Size: 128 MB\tMax Memory Used: 67 MB\tInit Duration: 330.38 ms\t"
        );
    }
}
