//! Unlocking the secret key a command signs with: its password from `--password-file` (cosign
//! keys: else `$COSIGN_PASSWORD`, as cosign reads it), else asked on a terminal (a prompt is
//! the CLI's business, so it is here, not in a library).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use binship_sign::{cosign, keys, ImageKey};

use crate::cli::KeyArgs;

/// Whether stdin and stderr are terminals (a password may be asked).
pub fn is_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn secret_path(k: &KeyArgs) -> PathBuf {
    k.secret_key
        .clone()
        .unwrap_or_else(|| keys::default_dir().join(keys::SECRET_NAME))
}

fn password(k: &KeyArgs, path: &Path, cosign_env: bool) -> Result<String, String> {
    match &k.password_file {
        Some(p) => binship_publish::supply::read_password_file(p).map_err(|e| e.to_string()),
        None => match std::env::var("COSIGN_PASSWORD") {
            Ok(pw) if cosign_env => Ok(pw),
            _ if is_tty() => dialoguer::Password::new()
                .with_prompt(format!("Password for {}", path.display()))
                .interact()
                .map_err(|e| e.to_string()),
            _ if cosign_env => Err("the key does not open with the empty password: give --password-file FILE or $COSIGN_PASSWORD (no terminal to ask on)".into()),
            _ => Err("the key is encrypted: give --password-file FILE (no terminal to ask on)".into()),
        },
    }
}

/// The minisign secret key of `k` (binaries and stored versions are signed with minisign),
/// unlocked; the error is a one-line usage message.
pub fn unlock(k: &KeyArgs) -> Result<binship_sign::SecretKey, String> {
    let path = secret_path(k);
    if cosign::is_secret_key_file(&path) {
        return Err(format!(
            "{}: a cosign key signs images (scaffold --sign, sign-image) and attests versions (binship sign APP --key cosign.key); build and update --sign sign the binaries with a minisign key (binship key generate)",
            path.display()
        ));
    }
    keys::load_secret(&path, || password(k, &path, false)).map_err(|e| e.to_string())
}

/// The key of `k` that signs images: a cosign key (recognised by its PEM label) writes
/// cosign's signatures, a minisign key binship's own.
///
/// Without `--key`: `binship.key` in the key dir, or `cosign.key` there when only that exists.
/// A `--password-file` that a key with the empty password did not need is a warning.
pub fn unlock_image_key(k: &KeyArgs) -> Result<ImageKey, String> {
    let dir = keys::default_dir();
    let path = match &k.secret_key {
        Some(p) => p.clone(),
        None if !dir.join(keys::SECRET_NAME).exists() && dir.join(cosign::SECRET_NAME).exists() => {
            dir.join(cosign::SECRET_NAME)
        }
        None => dir.join(keys::SECRET_NAME),
    };
    if !cosign::is_secret_key_file(&path) {
        let k = KeyArgs {
            secret_key: Some(path),
            ..k.clone()
        };
        return unlock(&k).map(ImageKey::Minisign);
    }
    let asked = std::cell::Cell::new(false);
    let key = cosign::load_secret(&path, || {
        asked.set(true);
        password(k, &path, true)
    })
    .map_err(|e| e.to_string())?;
    if k.password_file.is_some() && !asked.get() {
        crate::output::warnings(&[format!(
            "{} has the empty password: --password-file was not needed (anyone with the file can sign)",
            path.display()
        )]);
    }
    Ok(ImageKey::Cosign(key))
}
