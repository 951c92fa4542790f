//! Reading from a registry, [`Puller`]: tags, a manifest by tag (its digest checked), and
//! blobs streamed to files with their digest and size checked, retried with backoff when the
//! connection fails.

use std::io::{Read, Write};
use std::path::Path;

use crate::client::{header, Body, Client};
use crate::push::Progress;
use crate::{Reference, RegistryError, Retry};

/// Manifests larger than this are refused (distribution's own limit is 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// Media types binship reads.
fn accept() -> String {
    use binship_oci::media_type::*;
    [MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(", ")
}

/// A reading session with one repository.
pub struct Puller {
    c: Client,
    repo: Reference,
}

impl Puller {
    pub fn open(
        repo: &Reference,
        insecure: bool,
        retry: Option<Retry>,
    ) -> Result<Puller, RegistryError> {
        let mut c = Client::new(repo, insecure)?;
        if let Some(r) = retry {
            c.retry = r;
        }
        Ok(Puller {
            c,
            repo: repo.clone(),
        })
    }

    /// Stops the session's requests once `flag` is set (a Ctrl-C handler's): no attempt starts
    /// after it, a retry's wait and a blob download end with [`RegistryError::Interrupted`].
    pub fn stop_on(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.c.stop = Some(flag);
    }

    /// The repository's name in the registry (`team/app`).
    pub(crate) fn repository(&self) -> &str {
        &self.repo.repository
    }

    /// `REGISTRY/REPO`, for messages.
    pub(crate) fn repo_name(&self) -> String {
        self.repo.repo()
    }

    /// The session's client (for writes to the same repository, e.g. a re-tag).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.c
    }

    /// The manifest tagged `tag`: its bytes, media type and digest (checked against what the
    /// registry claims).
    pub fn manifest(&mut self, tag: &str) -> Result<(Vec<u8>, String, String), RegistryError> {
        let path = format!("/v2/{}/manifests/{tag}", self.repo.repository);
        let r = self
            .c
            .send("GET", &path, &[("Accept", &accept())], Body::Empty)?;
        if r.status().as_u16() == 404 {
            return Err(RegistryError::NotFound {
                registry: self.repo.registry.clone(),
                reference: format!("{}:{tag}", self.repo.repo()),
            });
        }
        let mut r = self
            .c
            .expect(r, 200, || format!("getting the manifest {tag}"))?;
        let media = header(&r, "content-type").unwrap_or_default();
        let claimed = header(&r, "docker-content-digest");
        let bytes = r
            .body_mut()
            .with_config()
            .limit(MANIFEST_LIMIT)
            .read_to_vec()
            .map_err(|e| self.c.err(format!("reading the manifest {tag}: {e}")))?;
        let digest = binship_oci::digest_string(&bytes);
        if let Some(got) = claimed {
            if got != digest {
                return Err(RegistryError::Corrupt {
                    registry: self.repo.registry.clone(),
                    what: format!("manifest {tag}"),
                    expected: got,
                    got: digest,
                });
            }
        }
        Ok((bytes, media, digest))
    }

    /// Downloads blob `digest` of `size` bytes to `dest`, checking both; a download the network
    /// cut is started again. On error `dest` is removed.
    pub fn blob_to(
        &mut self,
        digest: &str,
        size: u64,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        let attempts = self.c.retry.attempts;
        let mut last = None;
        for n in 1..=attempts {
            if n > 1 {
                self.c.pause(self.c.retry.delay(n));
                progress.restart(digest);
            }
            self.c.check_stop()?;
            match self.try_blob(digest, size, dest, progress) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let _ = std::fs::remove_file(dest);
                    let again = matches!(e, RegistryError::Unreachable { .. })
                        || matches!(&e, RegistryError::Http { message, .. } if message.starts_with("reading blob"));
                    if !again {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("attempts > 0"))
    }

    fn try_blob(
        &mut self,
        digest: &str,
        size: u64,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repo.repository);
        let mut r = self.c.send("GET", &path, &[], Body::Empty)?;
        // Registries with object storage redirect blob reads there.
        if matches!(r.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
            let to = header(&r, "location")
                .ok_or_else(|| self.c.err("a redirect without Location".into()))?;
            r = self
                .c
                .get_elsewhere(&to)
                .map_err(|e| self.c.err(format!("reading blob {digest} from {to}: {e}")))?;
        }
        let mut r = self.c.expect(r, 200, || format!("getting blob {digest}"))?;
        let file_err = |e: std::io::Error| RegistryError::Layout {
            path: dest.display().to_string(),
            message: e.to_string(),
        };
        let mut out = binship_oci::HashWriter::new(std::fs::File::create(dest).map_err(file_err)?);
        let mut body = r.body_mut().with_config().limit(size + 1).reader();
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        loop {
            self.c.check_stop()?;
            let n = body
                .read(&mut buf)
                .map_err(|e| self.c.err(format!("reading blob {digest}: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > size {
                return Err(self.c.err(format!(
                    "blob {digest} is larger than the {size} bytes its manifest says"
                )));
            }
            out.write_all(&buf[..n]).map_err(file_err)?;
            progress.advance(digest, n as u64);
        }
        let (got, _, out) = out.finish();
        let got = String::from(got);
        if total != size || got != digest {
            return Err(RegistryError::Corrupt {
                registry: self.repo.registry.clone(),
                what: format!("blob ({total} of {size} bytes)"),
                expected: digest.into(),
                got,
            });
        }
        out.sync_all().map_err(file_err)?;
        Ok(())
    }

    /// A (small) blob in memory, checked like [`Puller::blob_to`].
    pub fn blob_vec(&mut self, digest: &str, size: u64) -> Result<Vec<u8>, RegistryError> {
        let tmp = std::env::temp_dir().join(format!(
            "binship-blob-{}-{}",
            std::process::id(),
            digest.trim_start_matches("sha256:")
        ));
        struct Quiet;
        impl Progress for Quiet {}
        self.blob_to(digest, size, &tmp, &Quiet)?;
        let b = std::fs::read(&tmp).map_err(|e| RegistryError::Layout {
            path: tmp.display().to_string(),
            message: e.to_string(),
        });
        let _ = std::fs::remove_file(&tmp);
        b
    }

    /// The manifest tagged `tag`, or None when the registry has no such tag.
    pub fn manifest_opt(
        &mut self,
        tag: &str,
    ) -> Result<Option<(Vec<u8>, String, String)>, RegistryError> {
        match self.manifest(tag) {
            Ok(m) => Ok(Some(m)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the manifest `digest` (and so every tag on it): OCI distribution spec,
    /// "Deleting manifests". A manifest already gone is not an error.
    ///
    /// # Errors
    /// The registry refuses (405: deletes are off, on distribution `storage.delete.enabled`),
    /// or cannot be reached.
    pub fn delete_manifest(&mut self, digest: &str) -> Result<(), RegistryError> {
        let path = format!("/v2/{}/manifests/{digest}", self.repo.repository);
        let r = self.c.send("DELETE", &path, &[], Body::Empty)?;
        match r.status().as_u16() {
            200..=299 | 404 => Ok(()),
            405 => Err(self.c.err(format!(
                "{} refuses to delete manifests (405; on distribution set storage.delete.enabled: true)",
                self.repo.repo()
            ))),
            s => Err(self.c.err(format!(
                "deleting manifest {digest} of {} answered {s}",
                self.repo.repository
            ))),
        }
    }

    /// The repository's tags, sorted with `v.N` tags by number first. A registry that pages
    /// its answer (a `Link: <...>; rel="next"` header, OCI distribution spec "Listing tags") is
    /// followed to the last page.
    pub fn tags(&mut self) -> Result<Vec<String>, RegistryError> {
        self.tags_paged(None)
    }

    /// As [`Puller::tags`], asking for pages of `n` tags (`?n=`; the registry may choose).
    pub fn tags_paged(&mut self, n: Option<usize>) -> Result<Vec<String>, RegistryError> {
        let mut path = format!("/v2/{}/tags/list", self.repo.repository);
        if let Some(n) = n {
            path.push_str(&format!("?n={n}"));
        }
        let mut tags: Vec<String> = Vec::new();
        for _page in 0..10_000 {
            let mut r = self.c.send("GET", &path, &[], Body::Empty)?;
            if r.status().as_u16() == 404 {
                break;
            }
            if !r.status().is_success() {
                return Err(self.c.err(format!(
                    "listing tags of {} answered {}",
                    self.repo.repository,
                    r.status().as_u16()
                )));
            }
            let next = header(&r, "link").and_then(|l| next_link(&l));
            let text = r
                .body_mut()
                .read_to_string()
                .map_err(|e| self.c.err(e.to_string()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| self.c.err(format!("tags list is not JSON: {e}")))?;
            tags.extend(
                v["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(String::from)),
            );
            match next {
                Some(p) => path = p,
                None => break,
            }
        }
        tags.sort_by_key(|t| match version_of_tag(t) {
            Some(n) => (0, n, t.clone()),
            None => (1, 0, t.clone()),
        });
        Ok(tags)
    }
}

/// The path of a `Link` header's `rel="next"` target (`</v2/x/tags/list?n=2&last=b>;
/// rel="next"`), relative to the registry; None for a target on another host.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.replace(' ', "").contains("rel=\"next\"") {
            return None;
        }
        let t = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if t.starts_with('/') {
            Some(t.to_string())
        } else {
            None
        }
    })
}

/// `v.N` -> N.
pub fn version_of_tag(t: &str) -> Option<u32> {
    t.strip_prefix("v.")
        .filter(|n| !n.starts_with('0'))
        .and_then(|n| n.parse().ok())
}

/// The tags of `repo` (a reference whose tag is ignored), sorted with `v.N` tags by number.
pub fn list_tags(repo: &Reference, insecure: bool) -> Result<Vec<String>, RegistryError> {
    Puller::open(repo, insecure, None)?.tags()
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_link_takes_the_relative_next_target_only() {
        use super::next_link as n;
        assert_eq!(
            n(r#"</v2/x/tags/list?n=1&last=a>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=1&last=a")
        );
        assert_eq!(n(r#"</v2/x/tags/list?last=a>; rel="prev""#), None);
        assert_eq!(n(r#"<https://elsewhere/v2/x>; rel="next""#), None);
        assert_eq!(n("garbage"), None);
    }
}
