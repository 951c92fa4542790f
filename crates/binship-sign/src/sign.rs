//! Detached minisign signatures: [`sign_file`] writes `<file>.minisig` (prehashed Ed25519, the
//! format `minisign -V` checks) with a trusted comment; [`verify_file`] checks one and returns
//! its trusted comment. [`sign_bytes`] / [`verify_bytes`] do the same for data in memory (image
//! signature payloads).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use minisign::{PublicKey, SecretKey, SignatureBox};

use crate::keys::key_id;
use crate::{io, write_atomic, SignError};

/// `<file>.minisig`.
pub fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// A signature box of `data`, as text.
pub fn sign_bytes(
    sk: &SecretKey,
    data: &[u8],
    trusted_comment: &str,
    what: &Path,
) -> Result<String, SignError> {
    let untrusted = format!("signature from binship secret key {}", key_id(sk.keynum()));
    minisign::sign(
        None,
        sk,
        Cursor::new(data),
        Some(trusted_comment),
        Some(&untrusted),
    )
    .map(|b| b.into_string())
    .map_err(|e| SignError::Key {
        path: what.into(),
        message: format!("signing: {e}"),
    })
}

/// Signs `file` into `<file>.minisig`; returns the signature's path.
pub fn sign_file(sk: &SecretKey, file: &Path, trusted_comment: &str) -> Result<PathBuf, SignError> {
    let data = std::fs::read(file).map_err(io("reading", file))?;
    let sig = sign_bytes(sk, &data, trusted_comment, file)?;
    let path = sig_path(file);
    write_atomic(&path, sig.as_bytes(), 0o644)?;
    Ok(path)
}

/// Checks a signature box (text, read from `sig_name`) over `data`; returns the trusted comment.
pub fn verify_bytes(
    pk: &PublicKey,
    data: &[u8],
    sig_text: &str,
    sig_name: &Path,
) -> Result<String, SignError> {
    let sig = SignatureBox::from_string(sig_text).map_err(|e| SignError::BadSignature {
        path: sig_name.into(),
        message: format!("not a minisign signature ({e})"),
    })?;
    if sig.keynum() != pk.keynum() {
        return Err(SignError::Verify {
            path: sig_name.into(),
            message: format!(
                "signed by key {}, not by the given public key {}",
                key_id(sig.keynum()),
                key_id(pk.keynum())
            ),
        });
    }
    minisign::verify(pk, &sig, Cursor::new(data), true, false, false).map_err(|e| {
        SignError::Verify {
            path: sig_name.into(),
            message: format!("{e} (the signed content changed, or the signature was edited)"),
        }
    })?;
    sig.trusted_comment().map_err(|e| SignError::BadSignature {
        path: sig_name.into(),
        message: e.to_string(),
    })
}

/// Checks `<file>.minisig` against `file`; returns the trusted comment.
pub fn verify_file(pk: &PublicKey, file: &Path) -> Result<String, SignError> {
    let data = std::fs::read(file).map_err(io("reading", file))?;
    verify_detached(pk, file, &data)
}

/// As [`verify_file`], for `file`'s content already read (`data`): checks `<file>.minisig`.
pub fn verify_detached(pk: &PublicKey, file: &Path, data: &[u8]) -> Result<String, SignError> {
    let sp = sig_path(file);
    let text = std::fs::read_to_string(&sp).map_err(|e| SignError::BadSignature {
        path: sp.clone(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "missing: the version is not signed (binship sign)".into()
        } else {
            e.to_string()
        },
    })?;
    verify_bytes(pk, data, &text, &sp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, load_public, load_secret};

    #[test]
    fn sign_verify_tamper_and_other_key() {
        let d = tempfile::tempdir().unwrap();
        let g = generate(&d.path().join("k1"), None, false).unwrap();
        let g2 = generate(&d.path().join("k2"), None, false).unwrap();
        let sk = load_secret(&g.secret_key, || unreachable!()).unwrap();
        let pk = load_public(&g.public_key).unwrap();
        let pk2 = load_public(&g2.public_key).unwrap();
        let f = d.path().join("bin");
        std::fs::write(&f, b"hello binary").unwrap();
        sign_file(&sk, &f, "binship test v.1").unwrap();
        assert_eq!(verify_file(&pk, &f).unwrap(), "binship test v.1");
        let e = verify_file(&pk2, &f).unwrap_err().to_string();
        assert!(e.contains("not by the given public key"), "{e}");
        std::fs::write(&f, b"hellO binary").unwrap();
        let e = verify_file(&pk, &f).unwrap_err().to_string();
        assert!(e.contains("signature does not verify"), "{e}");
        std::fs::write(sig_path(&f), "garbage\n").unwrap();
        let e = verify_file(&pk, &f).unwrap_err().to_string();
        assert!(e.contains("not a minisign signature"), "{e}");
        std::fs::remove_file(sig_path(&f)).unwrap();
        let e = verify_file(&pk, &f).unwrap_err().to_string();
        assert!(e.contains("not signed"), "{e}");
    }
}
