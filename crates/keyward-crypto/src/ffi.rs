//! The two AWS-LC entry points that aws-lc-rs does not wrap, reached through aws-lc-sys
//! (the same AWS-LC build aws-lc-rs links, so no second copy of the library):
//!
//! - Ed25519ph (RFC 8032 §5.1, HashEdDSA with SHA-512 and an empty context), for KMS's
//!   `ED25519_PH_SHA_512`;
//! - ML-DSA signing and verification of a caller-computed message representative mu
//!   (FIPS 204 Algorithm 7 line 6 replaced by the given mu), for KMS's `EXTERNAL_MU`.
//!
//! This is the only module of the workspace that may contain `unsafe`. Every block below
//! calls one C function whose contract is stated in AWS-LC's headers
//! (`include/openssl/curve25519.h`, `include/openssl/evp.h`); the comment on each block
//! shows that every pointer it passes is valid for the length the function reads or writes
//! and outlives the call. Owned AWS-LC objects live in guards that free them exactly once.
#![allow(unsafe_code)]

use std::os::raw::c_long;
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use crate::CryptoError;

pub(crate) const ED25519_SEED_LEN: usize = 32;
pub(crate) const ED25519_PUBLIC_KEY_LEN: usize = 32;
pub(crate) const ED25519_SIGNATURE_LEN: usize = 64;
pub(crate) const SHA512_LEN: usize = 64;
/// ML-DSA's message representative mu is 64 bytes (FIPS 204).
pub(crate) const MU_LEN: usize = 64;

/// Ed25519ph signature over a SHA-512 `digest` (the "PH(M)" of RFC 8032) with the key made
/// of `seed` and its `public_key`, and an empty context.
pub(crate) fn ed25519ph_sign_digest(
    seed: &[u8; ED25519_SEED_LEN],
    public_key: &[u8; ED25519_PUBLIC_KEY_LEN],
    digest: &[u8; SHA512_LEN],
) -> Result<[u8; ED25519_SIGNATURE_LEN], CryptoError> {
    // AWS-LC's Ed25519 private key is the seed followed by the public key.
    let mut private_key = Zeroizing::new([0u8; ED25519_SEED_LEN + ED25519_PUBLIC_KEY_LEN]);
    private_key[..ED25519_SEED_LEN].copy_from_slice(seed);
    private_key[ED25519_SEED_LEN..].copy_from_slice(public_key);
    let mut signature = [0u8; ED25519_SIGNATURE_LEN];
    // SAFETY: `ED25519ph_sign_digest(out_sig[64], digest[64], private_key[64], context,
    // context_len)` writes exactly 64 bytes to `out_sig` and reads exactly 64 bytes from
    // `digest` and from `private_key`; the three pointers come from live arrays of exactly
    // those lengths, borrowed (mutably for `signature`) for the duration of the call. The
    // context is read only when `context_len > 0`; it is 0, so the null pointer is never
    // read. The function keeps no pointer after it returns.
    let ok = unsafe {
        sys::ED25519ph_sign_digest(
            signature.as_mut_ptr(),
            digest.as_ptr(),
            private_key.as_ptr(),
            ptr::null(),
            0,
        )
    };
    if ok == 1 {
        Ok(signature)
    } else {
        Err(CryptoError::Internal)
    }
}

/// Whether `signature` is an Ed25519ph signature over the SHA-512 `digest` by `public_key`,
/// with an empty context. A signature of the wrong length does not verify.
pub(crate) fn ed25519ph_verify_digest(
    public_key: &[u8; ED25519_PUBLIC_KEY_LEN],
    digest: &[u8; SHA512_LEN],
    signature: &[u8],
) -> bool {
    let Ok(signature) = <&[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
        return false;
    };
    // SAFETY: `ED25519ph_verify_digest(digest[64], signature[64], public_key[32], context,
    // context_len)` reads exactly 64, 64 and 32 bytes from its first three arguments, which
    // point into live arrays of exactly those lengths for the duration of the call; the
    // context is not read because `context_len` is 0. It writes nothing through them.
    let ok = unsafe {
        sys::ED25519ph_verify_digest(
            digest.as_ptr(),
            signature.as_ptr(),
            public_key.as_ptr(),
            ptr::null(),
            0,
        )
    };
    ok == 1
}

/// An `EVP_PKEY` owned by Rust, freed once on drop.
struct Pkey(NonNull<sys::EVP_PKEY>);

impl Pkey {
    /// Parses a PKCS#8 `PrivateKeyInfo` (any key type AWS-LC reads).
    fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let len = c_long::try_from(der.len()).map_err(|_| CryptoError::InvalidKey)?;
        let mut input = der.as_ptr();
        // SAFETY: `d2i_AutoPrivateKey(out, &inp, len)` reads at most `len` bytes starting at
        // `*inp`; `input` points at `der`, which is live and exactly `len` bytes long for
        // the call. It advances the local `input` past what it parsed (a write to our own
        // stack variable, valid because `&mut input` is a unique, live borrow). With
        // `out` null it stores nothing else and returns a new object we own, or null.
        let raw = unsafe { sys::d2i_AutoPrivateKey(ptr::null_mut(), &mut input, len) };
        NonNull::new(raw).map(Self).ok_or(CryptoError::InvalidKey)
    }
}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful `d2i_AutoPrivateKey`, which gave us
        // the only reference; `Pkey` is neither `Clone` nor `Copy`, so it is freed once.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// An `EVP_PKEY_CTX` owned by Rust, freed once on drop. It holds its own reference to the
/// key, so it stays valid even if the `Pkey` it was made from is dropped first.
struct PkeyCtx(NonNull<sys::EVP_PKEY_CTX>);

impl PkeyCtx {
    fn new(key: &Pkey) -> Result<Self, CryptoError> {
        // SAFETY: `key.0` is a valid `EVP_PKEY` (see `Pkey`); `EVP_PKEY_CTX_new` takes its
        // own reference to it (it up-refs the key) and returns a new context we own, or
        // null. A null engine is the documented default.
        let raw = unsafe { sys::EVP_PKEY_CTX_new(key.0.as_ptr(), ptr::null_mut()) };
        NonNull::new(raw).map(Self).ok_or(CryptoError::Internal)
    }
}

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful `EVP_PKEY_CTX_new` and is owned only
        // by this guard, which is neither `Clone` nor `Copy`, so it is freed once.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

/// An ML-DSA signature of the 64-byte message representative `mu` with the private key in
/// `pkcs8` (FIPS 204 `ML-DSA.Sign_internal` from line 7 on, hedged as AWS-LC signs).
/// `EVP_PKEY_sign` on an ML-DSA key is AWS-LC's external-mu entry point; it refuses any
/// input that is not exactly mu's length.
pub(crate) fn ml_dsa_sign_mu(pkcs8: &[u8], mu: &[u8; MU_LEN]) -> Result<Vec<u8>, CryptoError> {
    let key = Pkey::from_pkcs8(pkcs8)?;
    let ctx = PkeyCtx::new(&key)?;
    // SAFETY: `ctx.0` is a valid context owned by `ctx` for this whole function.
    if unsafe { sys::EVP_PKEY_sign_init(ctx.0.as_ptr()) } != 1 {
        return Err(CryptoError::Internal);
    }
    let mut len: usize = 0;
    // SAFETY: with a null `sig`, `EVP_PKEY_sign` writes only the signature length to
    // `*sig_len` (`&mut len`, a live, unique borrow) and reads nothing else but the
    // context; `mu` is a live 64-byte array and `digest_len` says 64.
    let sized = unsafe {
        sys::EVP_PKEY_sign(
            ctx.0.as_ptr(),
            ptr::null_mut(),
            &mut len,
            mu.as_ptr(),
            mu.len(),
        )
    };
    if sized != 1 || len == 0 {
        return Err(CryptoError::Internal);
    }
    let mut signature = vec![0u8; len];
    // SAFETY: `signature` is a live buffer of exactly `len` bytes and `*sig_len` says so;
    // `EVP_PKEY_sign` writes at most `*sig_len` bytes to it (it fails with
    // BUFFER_TOO_SMALL otherwise) and stores the written length back in `len`. `mu` is a
    // live 64-byte array read for `digest_len` = 64 bytes. Nothing is kept after return.
    let signed = unsafe {
        sys::EVP_PKEY_sign(
            ctx.0.as_ptr(),
            signature.as_mut_ptr(),
            &mut len,
            mu.as_ptr(),
            mu.len(),
        )
    };
    if signed != 1 || len > signature.len() {
        return Err(CryptoError::Internal);
    }
    signature.truncate(len);
    Ok(signature)
}

/// Whether `signature` is an ML-DSA signature of the message representative `mu` by the
/// key in `pkcs8` (its public half).
pub(crate) fn ml_dsa_verify_mu(
    pkcs8: &[u8],
    mu: &[u8; MU_LEN],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let key = Pkey::from_pkcs8(pkcs8)?;
    let ctx = PkeyCtx::new(&key)?;
    // SAFETY: `ctx.0` is a valid context owned by `ctx` for this whole function.
    if unsafe { sys::EVP_PKEY_verify_init(ctx.0.as_ptr()) } != 1 {
        return Err(CryptoError::Internal);
    }
    // SAFETY: `EVP_PKEY_verify` reads `sig_len` bytes from `sig` and `digest_len` bytes
    // from `digest`; both pointers come from live slices of exactly those lengths for the
    // call, and it writes through neither.
    let ok = unsafe {
        sys::EVP_PKEY_verify(
            ctx.0.as_ptr(),
            signature.as_ptr(),
            signature.len(),
            mu.as_ptr(),
            mu.len(),
        )
    };
    // A failed verification leaves a reason on AWS-LC's per-thread error queue; clear it
    // so it cannot be mistaken for the cause of a later, unrelated failure.
    if ok != 1 {
        // SAFETY: takes no arguments and only empties this thread's error queue.
        unsafe { sys::ERR_clear_error() };
    }
    Ok(ok == 1)
}
