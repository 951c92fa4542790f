//! Unlocking the secret key a command signs with: its password from `--password-file`, else
//! asked on a terminal (a prompt is the CLI's business, so it is here, not in a library).

use std::io::IsTerminal;

use binship_sign::keys;

use crate::cli::KeyArgs;

/// Whether stdin and stderr are terminals (a password may be asked).
pub fn is_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The secret key of `k`, unlocked; the error is a one-line usage message.
pub fn unlock(k: &KeyArgs) -> Result<binship_sign::SecretKey, String> {
    let path = k
        .secret_key
        .clone()
        .unwrap_or_else(|| keys::default_dir().join(keys::SECRET_NAME));
    keys::load_secret(&path, || match &k.password_file {
        Some(p) => binship_publish::supply::read_password_file(p).map_err(|e| e.to_string()),
        None if is_tty() => dialoguer::Password::new()
            .with_prompt(format!("Password for {}", path.display()))
            .interact()
            .map_err(|e| e.to_string()),
        None => {
            Err("the key is encrypted: give --password-file FILE (no terminal to ask on)".into())
        }
    })
    .map_err(|e| e.to_string())
}
