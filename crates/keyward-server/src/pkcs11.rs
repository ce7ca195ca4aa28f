//! The `pkcs11` root of trust: the KEK is an AES-256 key object in an HSM token, created
//! sensitive and not extractable, so it never leaves the HSM; the data root key is sealed
//! and opened with CKM_AES_GCM inside it.

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::bootstrap::BootstrapError;
use crate::seal::SecretText;

pub const DEFAULT_KEY_LABEL: &str = "keyward-root-kek";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Where the HSM key is: the PKCS#11 module, the token, the key object, and the user PIN.
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token_label: Option<String>,
    pub key_label: Option<String>,
    pub pin: Option<SecretText>,
}

/// An open session on the token, logged in, with the KEK found (or made).
pub(crate) struct Hsm {
    // Kept so the module stays loaded and initialized as long as the session lives.
    _context: Pkcs11,
    session: Session,
    key: ObjectHandle,
}

fn hsm_error(what: &str, err: CkError) -> BootstrapError {
    BootstrapError::Config(format!("PKCS#11: {what}: {err}"))
}

impl Hsm {
    /// Logs in to `token_label` and finds the AES key `key_label`; with `create`, makes it
    /// if it is absent.
    pub(crate) fn open(
        config: &Pkcs11Config,
        token_label: &str,
        key_label: &str,
        create: bool,
    ) -> Result<Self, BootstrapError> {
        let pin = config.pin.as_ref().ok_or_else(|| {
            BootstrapError::Config(
                "PKCS#11: give the token's user PIN in KEYWARD_PKCS11_PIN or a file named by --pkcs11-pin-file".into(),
            )
        })?;
        let context = Pkcs11::new(&config.module).map_err(|e| {
            hsm_error(
                &format!("cannot load the module {}", config.module.display()),
                e,
            )
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| hsm_error("cannot initialize the module", e))?;
        let slots = context
            .get_slots_with_token()
            .map_err(|e| hsm_error("cannot list the tokens", e))?;
        let mut found = None;
        for slot in slots {
            let info = context
                .get_token_info(slot)
                .map_err(|e| hsm_error("cannot read a token", e))?;
            if info.label().trim_end() == token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            BootstrapError::Config(format!("PKCS#11: no token labelled {token_label:?}"))
        })?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| hsm_error("cannot open a session", e))?;
        let auth = AuthPin::from(pin.expose().to_owned());
        session
            .login(UserType::User, Some(&auth))
            .map_err(|e| match e {
                CkError::Pkcs11(RvError::PinIncorrect, _) => {
                    BootstrapError::Config(format!("PKCS#11: wrong PIN for token {token_label:?}"))
                }
                other => hsm_error("cannot log in", other),
            })?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ];
        let mut keys = session
            .find_objects(&template)
            .map_err(|e| hsm_error("cannot search the token", e))?;
        let key = match (keys.len(), create) {
            (1, _) => keys.remove(0),
            (0, true) => {
                let key = session
                    .generate_key(
                        &Mechanism::AesKeyGen,
                        &[
                            Attribute::Token(true),
                            Attribute::Private(true),
                            Attribute::Sensitive(true),
                            Attribute::Extractable(false),
                            Attribute::Encrypt(true),
                            Attribute::Decrypt(true),
                            Attribute::ValueLen(32.into()),
                            Attribute::Label(key_label.as_bytes().to_vec()),
                        ],
                    )
                    .map_err(|e| hsm_error("cannot generate the key", e))?;
                tracing::info!(
                    token = token_label,
                    key = key_label,
                    "generated the root of trust's AES-256 key in the HSM (sensitive, not extractable)"
                );
                key
            }
            (0, false) => {
                return Err(BootstrapError::Config(format!(
                    "PKCS#11: no AES key labelled {key_label:?} in token {token_label:?}"
                )))
            }
            (n, _) => {
                return Err(BootstrapError::Config(format!(
                    "PKCS#11: {n} AES keys are labelled {key_label:?} in token {token_label:?}; the label must name one"
                )))
            }
        };
        Ok(Self {
            _context: context,
            session,
            key,
        })
    }

    /// AES-256-GCM inside the HSM with a fresh IV from aws-lc-rs: `(iv, ciphertext‖tag)`.
    pub(crate) fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), BootstrapError> {
        let mut iv = keyward_crypto::random_bytes(IV_LEN)?.to_vec();
        let sealed = {
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())
                .map_err(|e| hsm_error("GCM parameters", e))?;
            self.session
                .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
                .map_err(|e| hsm_error("cannot seal the root key", e))?
        };
        Ok((iv, sealed))
    }

    /// Opens what [`Hsm::seal`] made; a wrong key or damage fails.
    pub(crate) fn open_sealed(
        &self,
        aad: &[u8],
        iv: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BootstrapError> {
        let mut iv = iv.to_vec();
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())
            .map_err(|e| hsm_error("GCM parameters", e))?;
        self.session
            .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
            .map(Zeroizing::new)
            .map_err(|_| {
                BootstrapError::Config(
                    "PKCS#11: the HSM key does not open this installation's root key".into(),
                )
            })
    }
}
