//! cosign-compatible ECDSA P-256 keys and signatures: [`generate`] writes `cosign.key` and
//! `cosign.pub` as `cosign generate-key-pair` does, [`load_secret`] reads a secret key under
//! either PEM label cosign has used (`ENCRYPTED SIGSTORE PRIVATE KEY`, `ENCRYPTED COSIGN
//! PRIVATE KEY`), [`load_public`] a PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7),
//! and [`sign`] / [`verify`] make and check ECDSA-SHA256 signatures as base64 of their ASN.1
//! DER (RFC 3279 §2.2.3), the form of cosign's `dev.cosignproject.cosign/signature` annotation.
//!
//! The secret key is sigstore's encrypted container (go-securesystemslib `encrypted`): a JSON
//! object `{"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": B64},
//! "cipher": {"name": "nacl/secretbox", "nonce": B64}, "ciphertext": B64}` whose plaintext is
//! the PKCS #8 DER of the key (RFC 5208), scrypt (RFC 7914) deriving the 32-byte XSalsa20-Poly1305
//! key from the password. cosign always encrypts; the password may be empty.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

pub use crate::keys::Generated;
use crate::{io, write_atomic, SignError};

/// The secret key's file name (cosign's).
pub const SECRET_NAME: &str = "cosign.key";
/// The public key's file name (cosign's).
pub const PUBLIC_NAME: &str = "cosign.pub";
/// The PEM label cosign writes today (sigstore's encrypted private key).
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign releases wrote; still read.
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The PEM label of a public key (SubjectPublicKeyInfo).
pub const PUBLIC_LABEL: &str = "PUBLIC KEY";

// scrypt's cost as cosign writes it (N = 2^15) and the other cost it reads (2^16); any other
// parameters are refused before scrypt runs, so a crafted key cannot ask for gigabytes.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_N_ACCEPTED: [u32; 2] = [1 << 15, 1 << 16];

/// A cosign secret key, unlocked.
pub type SecretKey = SigningKey;
/// A cosign public key.
pub type PublicKey = VerifyingKey;

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u32,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The key id binship prints for a public key: the first 16 hex digits of the sha256 of its
/// SubjectPublicKeyInfo DER.
pub fn key_id(pk: &PublicKey) -> String {
    use sha2::Digest;
    let der = pk.to_public_key_der().expect("P-256 key encodes");
    hex::encode(sha2::Sha256::digest(der.as_bytes()))[..16].to_string()
}

/// Whether `path` holds a PEM whose label is one of cosign's encrypted secret-key labels.
pub fn is_secret_key_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| pem_rfc7468::decode_label(&b).ok().map(str::to_string))
        .is_some_and(|l| l == SIGSTORE_LABEL || l == COSIGN_LABEL)
}

/// Whether `path` holds a PEM `PUBLIC KEY`.
pub fn is_public_key_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| pem_rfc7468::decode_label(&b).ok().map(str::to_string))
        .is_some_and(|l| l == PUBLIC_LABEL)
}

fn key_error(path: &Path, message: impl Into<String>) -> SignError {
    SignError::Key {
        path: path.into(),
        message: message.into(),
    }
}

/// The encrypted PEM (label [`SIGSTORE_LABEL`]) of `sk` under `password` (may be empty).
///
/// # Errors
/// Never in practice (scrypt's fixed parameters are valid); a [`SignError::Key`] naming `path`.
pub fn encrypt_secret(sk: &SecretKey, password: &str, path: &Path) -> Result<String, SignError> {
    let der = sk
        .to_pkcs8_der()
        .map_err(|e| key_error(path, format!("encoding: {e}")))?;
    let (mut salt, mut nonce) = ([0u8; 32], [0u8; 24]);
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = derive(password, &salt, SCRYPT_LOG_N).map_err(|m| key_error(path, m))?;
    let ciphertext = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), der.as_bytes())
        .map_err(|e| key_error(path, format!("encrypting: {e}")))?;
    let doc = Encrypted {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams {
                n: 1 << SCRYPT_LOG_N,
                r: 8,
                p: 1,
            },
            salt: B64.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: B64.encode(nonce),
        },
        ciphertext: B64.encode(ciphertext),
    };
    let json = serde_json::to_vec(&doc).expect("json");
    pem_rfc7468::encode_string(SIGSTORE_LABEL, pem_rfc7468::LineEnding::LF, &json)
        .map_err(|e| key_error(path, format!("encoding: {e}")))
}

fn derive(password: &str, salt: &[u8], log_n: u8) -> Result<[u8; 32], String> {
    let params = scrypt::Params::new(log_n, 8, 1, 32).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), salt, &params, &mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

/// Writes a new key pair (`cosign.key`, 0600, and `cosign.pub`) into `dir`; refuses to
/// overwrite unless `force`. `password` may be empty (cosign's own rule).
///
/// # Errors
/// [`SignError::Key`]: a key exists; [`SignError::Io`]: the dir cannot be written.
pub fn generate(dir: &Path, password: &str, force: bool) -> Result<Generated, SignError> {
    let (sk_path, pk_path) = (dir.join(SECRET_NAME), dir.join(PUBLIC_NAME));
    if !force && (sk_path.exists() || pk_path.exists()) {
        return Err(key_error(&sk_path, "a key already exists here; use --force to replace it (signatures made with it will no longer verify with the new key)"));
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let sk = SigningKey::random(&mut OsRng);
    let pk = *sk.verifying_key();
    let pem = encrypt_secret(&sk, password, &sk_path)?;
    let public = pk
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| key_error(&pk_path, format!("encoding: {e}")))?;
    write_atomic(&sk_path, pem.as_bytes(), 0o600)?;
    write_atomic(&pk_path, public.as_bytes(), 0o644)?;
    Ok(Generated {
        public_key: pk_path,
        secret_key: sk_path,
        encrypted: !password.is_empty(),
        key_id: key_id(&pk),
    })
}

/// Reads the encrypted secret key at `path` (either PEM label). The empty password is tried
/// first (cosign's keys for CI); `password` is asked for only when that fails.
///
/// # Errors
/// [`SignError::Key`]: no key, not a cosign key, unknown KDF or cipher, wrong password.
pub fn load_secret(
    path: &Path,
    password: impl FnOnce() -> Result<String, String>,
) -> Result<SecretKey, SignError> {
    let bytes = std::fs::read(path)
        .map_err(|e| crate::keys::missing(path, e, "binship key generate --format cosign"))?;
    let (label, json) = pem_rfc7468::decode_vec(&bytes)
        .map_err(|e| key_error(path, format!("not a PEM file ({e})")))?;
    if label != SIGSTORE_LABEL && label != COSIGN_LABEL {
        return Err(key_error(
            path,
            format!("PEM label {label:?}, not a cosign secret key ({SIGSTORE_LABEL:?} or {COSIGN_LABEL:?})"),
        ));
    }
    let doc: Encrypted = serde_json::from_slice(&json)
        .map_err(|e| key_error(path, format!("not sigstore's encrypted key JSON ({e})")))?;
    if doc.kdf.name != "scrypt" || doc.cipher.name != "nacl/secretbox" {
        return Err(key_error(
            path,
            format!(
                "KDF {:?} and cipher {:?}: only scrypt and nacl/secretbox are read",
                doc.kdf.name, doc.cipher.name
            ),
        ));
    }
    let p = &doc.kdf.params;
    if !SCRYPT_N_ACCEPTED.contains(&p.n) || p.r != 8 || p.p != 1 {
        return Err(key_error(
            path,
            format!(
                "scrypt parameters N={} r={} p={} are not cosign's",
                p.n, p.r, p.p
            ),
        ));
    }
    let b64 = |what: &str, s: &str| {
        B64.decode(s)
            .map_err(|e| key_error(path, format!("{what} is not base64 ({e})")))
    };
    let (salt, nonce, ciphertext) = (
        b64("salt", &doc.kdf.salt)?,
        b64("nonce", &doc.cipher.nonce)?,
        b64("ciphertext", &doc.ciphertext)?,
    );
    if nonce.len() != 24 {
        return Err(key_error(path, "the nonce is not 24 bytes"));
    }
    let log_n = p.n.trailing_zeros() as u8;
    let open = |pw: &str| -> Result<Option<Vec<u8>>, SignError> {
        let key = derive(pw, &salt, log_n).map_err(|m| key_error(path, m))?;
        Ok(crypto_secretbox::XSalsa20Poly1305::new(&key.into())
            .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
            .ok())
    };
    let der = match open("")? {
        Some(der) => der,
        None => {
            let pw = password().map_err(|m| key_error(path, m))?;
            open(&pw)?.ok_or_else(|| key_error(path, "wrong password for this key"))?
        }
    };
    SigningKey::from_pkcs8_der(&der)
        .map_err(|e| key_error(path, format!("not an ECDSA P-256 key ({e})")))
}

/// Reads a PEM `PUBLIC KEY` (an ECDSA P-256 SubjectPublicKeyInfo) at `path`.
///
/// # Errors
/// [`SignError::Key`]: missing, not PEM, or not a P-256 public key.
pub fn load_public(path: &Path) -> Result<PublicKey, SignError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::keys::missing(
            path,
            e,
            "binship key generate --format cosign, or --key FILE",
        )
    })?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|e| key_error(path, format!("not an ECDSA P-256 public key in PEM ({e})")))
}

/// The ECDSA-SHA256 signature of `payload` by `sk`: base64 of its ASN.1 DER.
pub fn sign(sk: &SecretKey, payload: &[u8]) -> String {
    let sig: Signature = sk.sign(payload);
    B64.encode(sig.to_der().as_bytes())
}

/// Checks `signature_b64` (base64 of an ASN.1 DER ECDSA-SHA256 signature) of `payload`.
///
/// # Errors
/// A one-line reason: not base64, not DER, or it does not verify with `pk`.
pub fn verify(pk: &PublicKey, payload: &[u8], signature_b64: &str) -> Result<(), String> {
    let der = B64
        .decode(signature_b64.trim())
        .map_err(|e| format!("the signature is not base64 ({e})"))?;
    let sig =
        Signature::from_der(&der).map_err(|e| format!("the signature is not ECDSA DER ({e})"))?;
    pk.verify(payload, &sig)
        .map_err(|_| "the signature does not verify with this key".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_under_both_labels_and_refuse_a_wrong_password() {
        let d = tempfile::tempdir().unwrap();
        let g = generate(d.path(), "s3cret", false).unwrap();
        assert!(g.encrypted && is_secret_key_file(&g.secret_key));
        assert!(is_public_key_file(&g.public_key) && !is_secret_key_file(&g.public_key));
        let pem = std::fs::read_to_string(&g.secret_key).unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            "{pem}"
        );
        let sk = load_secret(&g.secret_key, || Ok("s3cret".into())).unwrap();
        let pk = load_public(&g.public_key).unwrap();
        assert_eq!(sk.verifying_key(), &pk);
        assert_eq!(key_id(&pk), g.key_id);
        let sig = sign(&sk, b"payload");
        verify(&pk, b"payload", &sig).unwrap();
        assert!(verify(&pk, b"payload!", &sig)
            .unwrap_err()
            .contains("does not verify"));
        let e = load_secret(&g.secret_key, || Ok("nope".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong password"), "{e}");
        // The older label reads the same.
        let old = pem.replace(SIGSTORE_LABEL, COSIGN_LABEL);
        std::fs::write(d.path().join("old.key"), old).unwrap();
        let sk2 = load_secret(&d.path().join("old.key"), || Ok("s3cret".into())).unwrap();
        assert_eq!(sk2.verifying_key(), &pk);
        // An empty password is never asked for.
        let g2 = generate(&d.path().join("ci"), "", false).unwrap();
        assert!(!g2.encrypted);
        load_secret(&g2.secret_key, || panic!("asked")).unwrap();
        let e = generate(d.path(), "", false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
    }

    #[test]
    fn foreign_files_are_named_errors() {
        let d = tempfile::tempdir().unwrap();
        let g = generate(d.path(), "", false).unwrap();
        let e = load_secret(&g.public_key, || Ok(String::new()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PEM label \"PUBLIC KEY\", not a cosign secret key"),
            "{e}"
        );
        let e = load_public(&g.secret_key).unwrap_err().to_string();
        assert!(e.contains("not an ECDSA P-256 public key"), "{e}");
        // A crafted key asking for a huge scrypt cost is refused before scrypt runs.
        let pem = std::fs::read(&g.secret_key).unwrap();
        let (_, json) = pem_rfc7468::decode_vec(&pem).unwrap();
        let text = String::from_utf8(json)
            .unwrap()
            .replace("32768", "1073741824");
        let crafted = pem_rfc7468::encode_string(
            SIGSTORE_LABEL,
            pem_rfc7468::LineEnding::LF,
            text.as_bytes(),
        )
        .unwrap();
        std::fs::write(d.path().join("crafted.key"), crafted).unwrap();
        let e = load_secret(&d.path().join("crafted.key"), || Ok(String::new()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not cosign's"), "{e}");
    }
}
