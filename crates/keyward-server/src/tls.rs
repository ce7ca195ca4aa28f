//! HTTPS: a certificate that can be swapped while the server runs, and a listener that
//! hands axum only connections whose TLS handshake has finished.
//!
//! Handshakes run in their own tasks, each with a deadline, so a client that connects and
//! says nothing (or speaks plain HTTP) neither blocks other clients nor stops the server.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has from connecting to finishing its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past this, accepting waits for one to end.
const MAX_PENDING_HANDSHAKES: usize = 1024;
/// Finished handshakes waiting for axum to pick them up.
const READY_QUEUE: usize = 64;

/// The PEM files the certificate chain and its private key are read from, at start and on
/// every reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {message}")]
    BadPem { path: PathBuf, message: String },
    #[error("the key in {key} cannot be used with the certificate in {cert}: {source}")]
    Key {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The only provider the server uses: aws-lc-rs, like the rest of Keyward's cryptography.
/// Passed explicitly so nothing depends on a process-wide default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads and checks the chain and key: the chain is not empty and the key is the one the
/// first certificate names. Key bytes never reach an error message.
pub fn load_certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let bad_pem = |path: &Path, err: rustls::pki_types::pem::Error| TlsError::BadPem {
        path: path.to_owned(),
        message: err.to_string(),
    };
    let cert_pem = read(&files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(&files.cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key_pem = zeroize::Zeroizing::new(read(&files.key)?);
    // PKCS#8, PKCS#1 (RSA) or SEC1 (EC): the first private key in the file.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::BadPem {
            path: files.key.clone(),
            message: "no PEM private key (PKCS#8, RSA or EC) found".into(),
        },
        other => bad_pem(&files.key, other),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Key {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })
}

/// The server's certificate, read per handshake, replaced whole by [`Self::reload`].
pub struct ReloadableCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadableCert {
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let key = load_certified_key(&files)?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Reads the files again. On any error the certificate in use stays, so a half-written
    /// or wrong file never takes the server off the air.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = Arc::new(load_certified_key(&self.files)?);
        match self.current.write() {
            Ok(mut current) => *current = key,
            // A poisoned lock still holds a whole `Arc`; replacing it is safe.
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }

    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// TLS 1.2 and 1.3 with aws-lc-rs's defaults, HTTP/1.1 by ALPN (the server speaks no h2).
pub fn server_config(cert: Arc<ReloadableCert>) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

type Ready = (TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit);

/// A listener that yields TLS streams whose handshake is done. A task accepts TCP
/// connections (at most `max_connections` open at once, handshakes included; past that,
/// they wait in the kernel's backlog) and starts one handshake task per connection; it is
/// stopped when the listener is dropped.
pub struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    local_addr: SocketAddr,
    acceptor_task: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        config: rustls::ServerConfig,
        max_connections: usize,
    ) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let connections = Arc::new(Semaphore::new(max_connections.max(1)));
        let acceptor_task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            tx,
            connections,
            HANDSHAKE_TIMEOUT,
        ));
        Ok(Self {
            ready,
            local_addr,
            acceptor_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl crate::serve::Accept for TlsListener {
    type Io = TlsStream<TcpStream>;

    async fn accept(&mut self) -> Ready {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped, so this is never
            // reached while someone awaits it; waiting forever is the honest answer.
            None => std::future::pending().await,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<Ready>,
    connections: Arc<Semaphore>,
    timeout: Duration,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let Ok(connection) = connections.clone().acquire_owned().await else {
            return; // never closed
        };
        let Ok(permit) = pending.clone().acquire_owned().await else {
            return; // never closed
        };
        let (tcp, peer) = loop {
            match listener.accept().await {
                Ok(accepted) => break accepted,
                Err(err) => crate::serve::wait_after_accept_error(&err).await,
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    // Fails only once the server has stopped; the connection is then dropped.
                    let _ = ready.send((stream, peer, connection)).await;
                }
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    #[test]
    fn unreadable_or_empty_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("nope.key"),
        };
        assert!(matches!(
            load_certified_key(&missing),
            Err(TlsError::Read { .. })
        ));
        let empty = files(dir.path(), "", "");
        assert!(matches!(
            load_certified_key(&empty),
            Err(TlsError::NoCertificate { .. })
        ));
        let garbage = files(
            dir.path(),
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "",
        );
        assert!(load_certified_key(&garbage).is_err());
    }
}
