//! An independent check of binship's cosign format with the sigstore crate (sigstore-rs):
//!
//! - `verify IMAGE KEY.pub`: cosign's key-based verification of IMAGE (`REGISTRY/REPO:TAG` on
//!   plain HTTP) — the `.sig` signature image found by triangulation, each layer's signature
//!   checked, then a public-key constraint; exit 0 when some layer is by KEY, 1 otherwise.
//! - `sign IMAGE KEY PASSWORD`: signs IMAGE with an encrypted cosign KEY (PEM) and pushes the
//!   signature image, as `cosign sign --key` does.
//! - `keygen DIR PASSWORD`: writes DIR/cosign.key (encrypted) and DIR/cosign.pub.
//!
//! Used by binship's tests only (tests/cosign.rs); built by scripts/test.sh.

use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{Constraint, CosignCapabilities, SignatureLayer};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use zeroize::Zeroizing;

type R<T> = Result<T, String>;

fn client() -> R<sigstore::cosign::Client> {
    let config = ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    };
    sigstore::cosign::ClientBuilder::default()
        .with_oci_client_config(config)
        .build()
        .map_err(|e| format!("client: {e}"))
}

async fn verify(image: &str, key: &str) -> R<String> {
    let image: OciReference = image.parse().map_err(|e| format!("{image}: {e}"))?;
    let key = std::fs::read(key).map_err(|e| format!("{key}: {e}"))?;
    let mut c = client()?;
    let layers = c
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .map_err(|e| format!("signature layers: {e}"))?;
    let verifier = PublicKeyVerifier::try_from(&key).map_err(|e| format!("key: {e}"))?;
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
    sigstore::cosign::verify_constraints(&layers, constraints.iter())
        .map_err(|e| format!("not verified: {:?}", e.unsatisfied_constraints))?;
    Ok(format!("verified: {} signature layer(s)", layers.len()))
}

async fn sign(image: &str, key: &str, password: &str) -> R<String> {
    let image: OciReference = image.parse().map_err(|e| format!("{image}: {e}"))?;
    let raw = Zeroizing::new(std::fs::read(key).map_err(|e| format!("{key}: {e}"))?);
    let mut c = client()?;
    let (sig_image, digest) = c
        .triangulate(&image, &Auth::Anonymous)
        .await
        .map_err(|e| format!("triangulate: {e}"))?;
    let mut layer = SignatureLayer::new_unsigned(&image, &digest).map_err(|e| e.to_string())?;
    let signer = PrivateKeySigner::new_with_raw(
        raw,
        Zeroizing::new(password.as_bytes().to_vec()),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .map_err(|e| format!("{key}: {e}"))?;
    signer
        .add_constraint(&mut layer)
        .map_err(|e| format!("signing: {e}"))?;
    c.push_signature(None, &Auth::Anonymous, &sig_image, vec![layer])
        .await
        .map_err(|e| format!("push: {e}"))?;
    Ok(format!("signed {digest} as {sig_image}"))
}

fn keygen(dir: &str, password: &str) -> R<String> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .map_err(|e| e.to_string())?;
    let pair = signer.to_sigstore_keypair().map_err(|e| e.to_string())?;
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let sk = pair
        .private_key_to_encrypted_pem(password.as_bytes())
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cosign.key"), sk.as_bytes()).map_err(|e| e.to_string())?;
    let pk = pair.public_key_to_pem().map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cosign.pub"), pk).map_err(|e| e.to_string())?;
    // The key reads back (sigstore's own round trip).
    SigStoreKeyPair::from_encrypted_pem(sk.as_bytes(), password.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(format!("wrote {}", dir.join("cosign.key").display()))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    // Loopback registries only (a reference without one would go to Docker Hub).
    if let ["verify" | "sign", image, ..] = a.as_slice() {
        if !["127.0.0.1:", "localhost:", "[::1]:"].iter().any(|p| image.starts_with(p)) {
            eprintln!("sigstore: {image}: only registries on 127.0.0.1, localhost or [::1] are reached");
            std::process::exit(2);
        }
    }
    let r = match a.as_slice() {
        ["verify", image, key] => verify(image, key).await,
        ["sign", image, key, password] => sign(image, key, password).await,
        ["keygen", dir, password] => keygen(dir, password),
        _ => Err("usage: verify IMAGE KEY.pub | sign IMAGE KEY PASSWORD | keygen DIR PASSWORD".into()),
    };
    match r {
        Ok(m) => println!("{m}"),
        Err(m) => {
            eprintln!("sigstore: {m}");
            std::process::exit(1);
        }
    }
}
