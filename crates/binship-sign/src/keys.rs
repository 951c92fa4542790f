//! minisign key pairs: [`generate`] writes `binship.key` (secret, 0600) and `binship.pub`
//! (public; `minisign -V -p binship.pub` reads it) into a key dir (default
//! `$XDG_CONFIG_HOME/binship`, else `~/.config/binship`); [`load_secret`] and [`load_public`]
//! read them back, with clear errors for a missing key, a wrong password or a damaged file.

use std::path::{Path, PathBuf};

use ct_codecs::{Base64, Decoder};
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};

use crate::{io, write_atomic, SignError};

pub const SECRET_NAME: &str = "binship.key";
pub const PUBLIC_NAME: &str = "binship.pub";

/// The default key dir: `$XDG_CONFIG_HOME/binship` or `~/.config/binship`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"))
        .join("binship")
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub public_key: PathBuf,
    pub secret_key: PathBuf,
    /// Whether the secret key has a password (cosign: a non-empty one).
    pub encrypted: bool,
    /// The key id: minisign's as it prints it (16 hex digits); for a cosign key the first 16
    /// hex digits of the sha256 of its public key's DER.
    pub key_id: String,
}

/// minisign's key id: the 8-byte keynum, little-endian, as 16 upper-case hex digits.
pub fn key_id(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    b.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(b))
}

/// Writes a new key pair into `dir`; refuses to overwrite unless `force`. With a password the
/// secret key is encrypted (minisign's scrypt: about 1 GiB of memory per use).
pub fn generate(dir: &Path, password: Option<String>, force: bool) -> Result<Generated, SignError> {
    let (sk_path, pk_path) = (dir.join(SECRET_NAME), dir.join(PUBLIC_NAME));
    if !force && (sk_path.exists() || pk_path.exists()) {
        return Err(SignError::Key {
            path: sk_path,
            message: "a key already exists here; use --force to replace it (signatures made with it will no longer verify with the new key)".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let encrypted = password.is_some();
    let kp = match password {
        Some(p) => KeyPair::generate_encrypted_keypair(Some(p)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| SignError::Key {
        path: sk_path.clone(),
        message: format!("generating: {e}"),
    })?;
    let id = key_id(kp.pk.keynum());
    let pk_box = kp.pk.to_box().map_err(|e| SignError::Key {
        path: pk_path.clone(),
        message: e.to_string(),
    })?;
    let sk_box = kp
        .sk
        .to_box(Some(&format!(
            "binship {} secret key {id}",
            if encrypted {
                "encrypted"
            } else {
                "unencrypted"
            }
        )))
        .map_err(|e| SignError::Key {
            path: sk_path.clone(),
            message: e.to_string(),
        })?;
    write_atomic(&sk_path, sk_box.to_string().as_bytes(), 0o600)?;
    write_atomic(&pk_path, pk_box.to_string().as_bytes(), 0o644)?;
    Ok(Generated {
        public_key: pk_path,
        secret_key: sk_path,
        encrypted,
        key_id: id,
    })
}

/// Whether the secret key file at `path` is password-protected.
pub fn is_encrypted(path: &Path) -> Result<bool, SignError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| missing(path, e, "binship key generate"))?;
    let bad = |m: &str| SignError::Key {
        path: path.into(),
        message: m.into(),
    };
    if let Ok(label) = pem_rfc7468::decode_label(text.as_bytes()) {
        return Err(bad(&if label == crate::cosign::PUBLIC_LABEL {
            "a PEM public key, not a secret key (sign with the secret key, e.g. cosign.key)"
                .to_string()
        } else {
            format!("a PEM {label:?}, which binship does not sign with: it reads cosign's encrypted keys ({:?}); make one with binship key generate --format cosign, or cosign import-key-pair", crate::cosign::SIGSTORE_LABEL)
        }));
    }
    let line = text
        .lines()
        .nth(1)
        .ok_or_else(|| bad("not a minisign secret key (no key line)"))?;
    let bytes = Base64::decode_to_vec(line.trim(), None)
        .map_err(|_| bad("not a minisign secret key (key line is not base64)"))?;
    if bytes.len() == PUBLIC_KEY_LEN && &bytes[..2] == b"Ed" {
        return Err(bad(
            "a minisign public key, not a secret key (sign with binship.key)",
        ));
    }
    if bytes.len() < 4 || &bytes[..2] != b"Ed" {
        return Err(bad("not a minisign secret key"));
    }
    Ok(bytes[2..4] != [0, 0])
}

// A minisign public key's line decodes to 42 bytes: "Ed", the 8-byte key id, 32 key bytes.
const PUBLIC_KEY_LEN: usize = 42;

/// Whether `path` holds a minisign secret key (a secret key box: algorithm, KDF and the
/// encrypted key; not a public key).
pub fn is_secret_key_file(path: &Path) -> bool {
    is_encrypted(path).is_ok()
}

pub(crate) fn missing(path: &Path, e: std::io::Error, hint: &str) -> SignError {
    SignError::Key {
        path: path.into(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!("no key here ({hint})")
        } else {
            e.to_string()
        },
    }
}

/// Reads the secret key at `path`; `password` is asked for only when it is encrypted.
pub fn load_secret(
    path: &Path,
    password: impl FnOnce() -> Result<String, String>,
) -> Result<SecretKey, SignError> {
    let encrypted = is_encrypted(path)?;
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    let bad = |m: String| SignError::Key {
        path: path.into(),
        message: m,
    };
    let sk_box = SecretKeyBox::from_string(&text).map_err(|e| bad(e.to_string()))?;
    if !encrypted {
        return SecretKey::from_unencrypted_box(sk_box).map_err(|e| bad(format!("{e}")));
    }
    let pw = password().map_err(bad)?;
    SecretKey::from_box(sk_box, Some(pw)).map_err(|e| {
        let m = e.to_string();
        bad(if m.contains("Wrong password") {
            "wrong password for this key".into()
        } else {
            m
        })
    })
}

/// Reads a public key (a minisign `.pub` file).
pub fn load_public(path: &Path) -> Result<PublicKey, SignError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| missing(path, e, "binship key generate, or --pub FILE"))?;
    PublicKeyBox::from_string(&text)
        .and_then(|b| b.into_public_key())
        .map_err(|e| SignError::Key {
            path: path.into(),
            message: format!("not a minisign public key ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencrypted_keys_round_trip_and_are_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let g = generate(d.path(), None, false).unwrap();
        assert!(!g.encrypted);
        assert!(!is_encrypted(&g.secret_key).unwrap());
        let sk = load_secret(&g.secret_key, || panic!("no password needed")).unwrap();
        let pk = load_public(&g.public_key).unwrap();
        assert_eq!(key_id(sk.keynum()), g.key_id);
        assert_eq!(key_id(pk.keynum()), g.key_id);
        let e = generate(d.path(), None, false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&g.secret_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn damaged_and_missing_keys_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let e = load_public(&d.path().join("nope.pub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no key here"), "{e}");
        std::fs::write(d.path().join("bad.key"), "untrusted comment: x\n!!!\n").unwrap();
        let e = load_secret(&d.path().join("bad.key"), || Ok(String::new()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
        std::fs::write(d.path().join("bad.pub"), "hello\n").unwrap();
        let e = load_public(&d.path().join("bad.pub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a minisign public key"), "{e}");
    }
}
