//! Registry push over the OCI distribution API: [`push_layout`] sends an image from an OCI
//! layout to `REGISTRY/REPO:TAG` — HEAD to skip blobs the registry has, a monolithic upload
//! (POST then PUT with the digest) for the others, then the manifest — checking the digest the
//! registry reports for every blob and the manifest. [`Reference`] parses image references.
//!
//! Auth: on a 401 the client answers the registry's challenge with the credentials docker keeps
//! in `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`, `auths.<registry>.auth`):
//! Basic directly, or Bearer through the token realm. Plain HTTP for 127.0.0.1/localhost (as
//! docker allows) or `insecure`; TLS, chunked uploads and mounts come next.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// Why a push failed; each names the registry or the blob.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    BadReference(String),
    #[error("{registry}: {message}")]
    Http { registry: String, message: String },
    #[error("{registry}: {what}: the registry answered digest {got}, but binship sent {sent}")]
    DigestMismatch {
        registry: String,
        what: String,
        sent: String,
        got: String,
    },
    #[error("reading {path}: {message}")]
    Layout { path: String, message: String },
}

/// `registry/repo[:tag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl Reference {
    /// Parses `host[:port]/path[:tag]`; the host part is required (no Docker Hub default).
    pub fn parse(s: &str, default_tag: &str) -> Result<Reference, RegistryError> {
        let bad = |m: &str| RegistryError::BadReference(format!("reference `{s}` {m}"));
        let (registry, rest) = s
            .split_once('/')
            .ok_or_else(|| bad("needs a registry host: REGISTRY/REPO[:TAG]"))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad(
                "needs a registry host (with a dot or a port, or localhost) before the first /",
            ));
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, default_tag),
        };
        let name = regex::Regex::new(
            r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
        )
        .expect("regex");
        if !name.is_match(repository) {
            return Err(bad(
                "has an invalid repository name (lowercase, digits, . _ - separators)",
            ));
        }
        let tag_re = regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("regex");
        if !tag_re.is_match(tag) {
            return Err(bad("has an invalid tag"));
        }
        Ok(Reference {
            registry: registry.into(),
            repository: repository.into(),
            tag: tag.into(),
        })
    }

    fn base(&self, insecure: bool) -> String {
        let host = self.registry.split(':').next().unwrap_or("");
        let plain = insecure || host == "127.0.0.1" || host == "localhost" || host == "[::1]";
        format!(
            "{}://{}/v2/{}",
            if plain { "http" } else { "https" },
            self.registry,
            self.repository
        )
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub reference: String,
    pub manifest_digest: String,
    /// Blobs uploaded (the rest the registry had).
    pub uploaded: Vec<String>,
    pub skipped: Vec<String>,
}

/// `user:password` (base64) for `registry` from docker's config, if any.
pub fn docker_auth(registry: &str) -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
    let auths = cfg["auths"].as_object()?;
    [
        registry.to_string(),
        format!("http://{registry}"),
        format!("https://{registry}"),
    ]
    .iter()
    .find_map(|k| auths.get(k)?["auth"].as_str().map(str::to_string))
}

/// Parses `Bearer realm="...",service="...",scope="..."` (or Basic) into its scheme and params.
fn challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let params = rest
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (scheme.to_ascii_lowercase(), params)
}

const NO_CREDENTIALS: &str =
    "401 Unauthorized: no credentials for this registry in $DOCKER_CONFIG/config.json (docker login)";

/// An HTTP client for one registry that answers auth challenges once and keeps the answer.
struct Client {
    agent: ureq::Agent,
    registry: String,
    authorization: Option<String>,
}

impl Client {
    fn err(&self, m: String) -> RegistryError {
        RegistryError::Http {
            registry: self.registry.clone(),
            message: m,
        }
    }

    fn send(
        &mut self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        for attempt in 0..2 {
            let mut b = ureq::http::Request::builder().method(method).uri(url);
            if let Some(ct) = content_type {
                b = b.header("Content-Type", ct);
            }
            if let Some(a) = &self.authorization {
                b = b.header("Authorization", a.as_str());
            }
            let req = b.body(body).map_err(|e| self.err(e.to_string()))?;
            let resp = self
                .agent
                .run(req)
                .map_err(|e| self.err(format!("{method} {url}: {e}")))?;
            if resp.status().as_u16() != 401 || attempt == 1 {
                if resp.status().as_u16() == 401 {
                    return Err(self.err(if self.authorization.is_some() {
                        "401 Unauthorized: the registry refused the credentials in docker's config.json".into()
                    } else {
                        NO_CREDENTIALS.into()
                    }));
                }
                return Ok(resp);
            }
            let h = header(&resp, "www-authenticate").unwrap_or_default();
            let creds =
                docker_auth(&self.registry).ok_or_else(|| self.err(NO_CREDENTIALS.into()))?;
            let (scheme, params) = challenge(&h);
            self.authorization = Some(match scheme.as_str() {
                "basic" => format!("Basic {creds}"),
                "bearer" => {
                    let get = |k: &str| {
                        params
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let realm = get("realm");
                    let url = format!("{realm}?service={}&scope={}", get("service"), get("scope"));
                    let mut r = self
                        .agent
                        .get(&url)
                        .header("Authorization", &format!("Basic {creds}"))
                        .call()
                        .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                    if !r.status().is_success() {
                        return Err(self.err(format!(
                            "token {realm} answered {}: wrong credentials?",
                            r.status().as_u16()
                        )));
                    }
                    let text = r
                        .body_mut()
                        .read_to_string()
                        .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                    let t: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                    let token = t["token"]
                        .as_str()
                        .or(t["access_token"].as_str())
                        .unwrap_or_default();
                    format!("Bearer {token}")
                }
                other => return Err(self.err(format!("unsupported auth scheme `{other}`"))),
            });
        }
        unreachable!("two attempts return")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .proxy(None)
        .max_redirects(0)
        .build()
        .into()
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Pushes the image tagged `layout_tag` in the OCI layout at `layout` to `to`.
pub fn push_layout(
    layout: &Path,
    layout_tag: &str,
    to: &Reference,
    insecure: bool,
) -> Result<Pushed, RegistryError> {
    let lerr = |m: String| RegistryError::Layout {
        path: layout.display().to_string(),
        message: m,
    };
    let herr = |m: String| RegistryError::Http {
        registry: to.registry.clone(),
        message: m,
    };
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json")).map_err(|e| lerr(e.to_string()))?,
    )
    .map_err(|e| lerr(e.to_string()))?;
    let desc = index["manifests"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == layout_tag)
        })
        .ok_or_else(|| lerr(format!("no image tagged {layout_tag}")))?;
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest_digest = desc["digest"].as_str().unwrap_or_default().to_string();
    let manifest_bytes = std::fs::read(blob(&manifest_digest)).map_err(|e| lerr(e.to_string()))?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).map_err(|e| lerr(e.to_string()))?;
    let mut blobs: Vec<String> = vec![manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()];
    blobs.extend(
        manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["digest"].as_str().map(String::from)),
    );
    let base = to.base(insecure);
    let mut c = Client {
        agent: agent(),
        registry: to.registry.clone(),
        authorization: None,
    };
    let (mut uploaded, mut skipped) = (Vec::new(), Vec::new());
    for d in &blobs {
        let head = c.send("HEAD", &format!("{base}/blobs/{d}"), None, &[])?;
        if head.status().is_success() {
            skipped.push(d.clone());
            continue;
        }
        let start = c.send("POST", &format!("{base}/blobs/uploads/"), None, &[])?;
        if start.status().as_u16() != 202 {
            return Err(herr(format!(
                "starting the upload of {d} answered {}",
                start.status().as_u16()
            )));
        }
        let loc = header(&start, "location")
            .ok_or_else(|| herr("upload answer has no Location".into()))?;
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("{}{}", base.split("/v2/").next().unwrap_or(""), loc)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut bytes = Vec::new();
        std::fs::File::open(blob(d))
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| lerr(e.to_string()))?;
        let put = c.send(
            "PUT",
            &format!("{url}{sep}digest={d}"),
            Some("application/octet-stream"),
            &bytes,
        )?;
        if put.status().as_u16() != 201 {
            return Err(herr(format!(
                "uploading {d} answered {}",
                put.status().as_u16()
            )));
        }
        if let Some(got) = header(&put, "docker-content-digest") {
            if &got != d {
                return Err(RegistryError::DigestMismatch {
                    registry: to.registry.clone(),
                    what: "blob".into(),
                    sent: d.clone(),
                    got,
                });
            }
        }
        uploaded.push(d.clone());
    }
    let media = manifest["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let put = c.send(
        "PUT",
        &format!("{base}/manifests/{}", to.tag),
        Some(&media),
        &manifest_bytes,
    )?;
    if put.status().as_u16() != 201 {
        return Err(herr(format!(
            "putting the manifest answered {}",
            put.status().as_u16()
        )));
    }
    let got = header(&put, "docker-content-digest").unwrap_or_default();
    if got != manifest_digest {
        return Err(RegistryError::DigestMismatch {
            registry: to.registry.clone(),
            what: "manifest".into(),
            sent: manifest_digest,
            got,
        });
    }
    Ok(Pushed {
        reference: to.to_string(),
        manifest_digest,
        uploaded,
        skipped,
    })
}

/// The tags of `repo` (a reference whose tag is ignored), sorted with `v.N` tags by number.
pub fn list_tags(repo: &Reference, insecure: bool) -> Result<Vec<String>, RegistryError> {
    let mut c = Client {
        agent: agent(),
        registry: repo.registry.clone(),
        authorization: None,
    };
    let mut r = c.send(
        "GET",
        &format!("{}/tags/list", repo.base(insecure)),
        None,
        &[],
    )?;
    if r.status().as_u16() == 404 {
        return Ok(vec![]);
    }
    if !r.status().is_success() {
        return Err(c.err(format!(
            "listing tags of {} answered {}",
            repo.repository,
            r.status().as_u16()
        )));
    }
    let text = r
        .body_mut()
        .read_to_string()
        .map_err(|e| c.err(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| c.err(format!("tags list is not JSON: {e}")))?;
    let mut tags: Vec<String> = v["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    let key = |t: &String| {
        (
            t.strip_prefix("v.")
                .and_then(|n| n.parse::<u64>().ok())
                .map_or(1, |_| 0),
            t.strip_prefix("v.")
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0),
            t.clone(),
        )
    };
    tags.sort_by_key(key);
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::Reference;

    #[test]
    fn references_parse_and_bad_ones_are_refused() {
        let r = Reference::parse("127.0.0.1:5000/team/go-id:v.2", "latest").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "team/go-id", "v.2")
        );
        assert_eq!(
            Reference::parse("localhost/go-id", "v.1").unwrap().tag,
            "v.1"
        );
        for bad in [
            "go-id",
            "go-id:v1",
            "127.0.0.1:5000/Go-Id",
            "127.0.0.1:5000/go-id:bad tag",
            "127.0.0.1:5000/",
        ] {
            assert!(Reference::parse(bad, "latest").is_err(), "{bad}");
        }
        assert!(Reference::parse("127.0.0.1:5000/go-id", "x")
            .unwrap()
            .base(false)
            .starts_with("http://"));
        assert!(Reference::parse("registry.example/go-id", "x")
            .unwrap()
            .base(false)
            .starts_with("https://"));
    }
}
