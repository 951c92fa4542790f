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
            _ => Err(format!(
                "the key is encrypted: give --password-file FILE{} (no terminal to ask on)",
                if cosign_env {
                    " or $COSIGN_PASSWORD"
                } else {
                    ""
                }
            )),
        },
    }
}

/// The minisign secret key of `k` (binaries and stored versions are signed with minisign),
/// unlocked; the error is a one-line usage message.
pub fn unlock(k: &KeyArgs) -> Result<binship_sign::SecretKey, String> {
    let path = secret_path(k);
    if cosign::is_secret_key_file(&path) {
        return Err(format!(
            "{}: a cosign key signs images (scaffold --sign, sign-image); stored versions are signed with a minisign key (binship key generate)",
            path.display()
        ));
    }
    keys::load_secret(&path, || password(k, &path, false)).map_err(|e| e.to_string())
}

/// The key of `k` that signs images: a cosign key (recognised by its PEM label) writes
/// cosign's signatures, a minisign key binship's own.
pub fn unlock_image_key(k: &KeyArgs) -> Result<ImageKey, String> {
    let path = secret_path(k);
    if cosign::is_secret_key_file(&path) {
        cosign::load_secret(&path, || password(k, &path, true))
            .map(ImageKey::Cosign)
            .map_err(|e| e.to_string())
    } else {
        unlock(k).map(ImageKey::Minisign)
    }
}
