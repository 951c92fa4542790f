//! Pushing an image or artifact, [`push`]: for each blob HEAD (skip what the registry has),
//! a cross-repository mount where the blob is known to live (upload when the registry answers
//! 202), else a monolithic or chunked upload, the whole upload tried again with backoff when the
//! connection fails; then the manifest. Every digest the registry reports is checked.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde::Serialize;

use crate::client::{header, Body, Client};
use crate::{Reference, RegistryError};

/// Blobs larger than this go up in chunks even without `--chunk-size`.
pub const AUTO_CHUNK_ABOVE: u64 = 256 << 20;
/// The chunk size used then.
pub const AUTO_CHUNK_SIZE: u64 = 64 << 20;

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub enum BlobSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// A blob to push: its digest, size and bytes.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
}

impl Blob {
    /// A blob held in memory, digested here.
    pub fn from_bytes(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: binship_oci::digest_string(&bytes),
            size: bytes.len() as u64,
            source: BlobSource::Bytes(bytes),
        }
    }

    /// `len` bytes from `offset`.
    fn open(&self, offset: u64, len: u64) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(match &self.source {
            BlobSource::File(p) => {
                let mut f = std::fs::File::open(p)?;
                f.seek(SeekFrom::Start(offset))?;
                Box::new(f.take(len))
            }
            BlobSource::Bytes(b) => {
                let start = (offset as usize).min(b.len());
                let end = (start + len as usize).min(b.len());
                Box::new(&b[start..end])
            }
        })
    }
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobOutcome {
    /// The registry had it (HEAD).
    Present,
    /// Mounted from another repository of the same registry.
    Mounted,
    Uploaded,
}

/// Per-blob progress; the CLI draws bars, libraries and tests pass nothing.
pub trait Progress: Sync {
    fn start(&self, _digest: &str, _size: u64) {}
    fn advance(&self, _digest: &str, _bytes: u64) {}
    /// The upload starts over (a retry): the bar goes back to 0.
    fn restart(&self, _digest: &str) {}
    fn done(&self, _digest: &str, _outcome: BlobOutcome) {}
}

/// How to push.
#[derive(Default)]
pub struct PushOptions<'a> {
    /// Plain HTTP and any certificate for this registry.
    pub insecure: bool,
    /// Upload in chunks of this many bytes (PATCH, then PUT); default: monolithic, chunked
    /// only above [`AUTO_CHUNK_ABOVE`].
    pub chunk_size: Option<u64>,
    /// Repositories of the same registry that may hold the blobs (cross-repository mount).
    pub mount_from: Vec<String>,
    pub progress: Option<&'a dyn Progress>,
    /// Overrides the retry policy (tests shorten it).
    pub retry: Option<crate::Retry>,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub reference: String,
    pub manifest_digest: String,
    /// Blobs uploaded, mounted from another repository, or already there.
    pub uploaded: Vec<String>,
    pub mounted: Vec<String>,
    pub skipped: Vec<String>,
    pub bytes_uploaded: u64,
    /// The pushed manifest's (or index's) size and media type: what an attachment's
    /// `subject` names.
    pub manifest_size: u64,
    pub media_type: String,
    /// The registry's `OCI-Subject` answer to the manifest PUT: the subject digest it indexed
    /// for the referrers API (distribution spec v1.1, "Pushing Manifests with Subject"); None
    /// from a registry without that API, or for a manifest without a subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci_subject: Option<String>,
}

struct Quiet;
impl Progress for Quiet {}

/// Counts bytes read into the progress reporter.
struct Counting<'a, R> {
    inner: R,
    digest: &'a str,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(self.digest, n as u64);
        Ok(n)
    }
}

/// Pushes `blobs`, then `manifest` (of `media_type`) as `to`'s tag.
pub fn push(
    to: &Reference,
    manifest: &[u8],
    media_type: &str,
    blobs: &[Blob],
    opts: &PushOptions<'_>,
) -> Result<Pushed, RegistryError> {
    push_with(
        &mut client(to, opts)?,
        to,
        manifest,
        media_type,
        blobs,
        opts,
    )
}

/// One tag's manifest (or, when `tag` is a digest, an untagged one) and the blobs it needs,
/// for [`crate::push_attached`].
pub struct TagPush<'a> {
    pub tag: &'a str,
    pub manifest: &'a [u8],
    pub media_type: &'a str,
    pub blobs: Vec<Blob>,
}

/// A client for `to`'s registry as `opts` say (scheme, retries).
fn client(to: &Reference, opts: &PushOptions<'_>) -> Result<Client, RegistryError> {
    let mut c = Client::new(to, opts.insecure)?;
    if let Some(r) = opts.retry {
        c.retry = r;
    }
    Ok(c)
}

/// [`push`] through an existing client (one scheme probe and auth for several manifests).
pub(crate) fn push_with(
    c: &mut Client,
    to: &Reference,
    manifest: &[u8],
    media_type: &str,
    blobs: &[Blob],
    opts: &PushOptions<'_>,
) -> Result<Pushed, RegistryError> {
    let progress = opts.progress.unwrap_or(&Quiet);
    let mut pushed = Pushed {
        reference: to.to_string(),
        manifest_digest: binship_oci::digest_string(manifest),
        uploaded: vec![],
        mounted: vec![],
        skipped: vec![],
        bytes_uploaded: 0,
        manifest_size: manifest.len() as u64,
        media_type: media_type.into(),
        oci_subject: None,
    };
    let mut seen = std::collections::BTreeSet::new();
    for b in blobs {
        if !seen.insert(b.digest.clone()) {
            continue;
        }
        progress.start(&b.digest, b.size);
        let outcome = push_blob(c, to, b, opts, progress)?;
        progress.done(&b.digest, outcome);
        match outcome {
            BlobOutcome::Present => pushed.skipped.push(b.digest.clone()),
            BlobOutcome::Mounted => pushed.mounted.push(b.digest.clone()),
            BlobOutcome::Uploaded => {
                pushed.uploaded.push(b.digest.clone());
                pushed.bytes_uploaded += b.size;
            }
        }
    }
    let path = format!("/v2/{}/manifests/{}", to.repository, to.tag);
    let put = c.send(
        "PUT",
        &path,
        &[("Content-Type", media_type)],
        Body::Bytes(manifest),
    )?;
    let put = c.expect(put, 201, || "putting the manifest".into())?;
    let got = header(&put, "docker-content-digest").unwrap_or_default();
    if got != pushed.manifest_digest {
        return Err(RegistryError::DigestMismatch {
            registry: to.registry.clone(),
            what: "manifest".into(),
            sent: pushed.manifest_digest,
            got,
        });
    }
    pushed.oci_subject = header(&put, "oci-subject");
    Ok(pushed)
}

fn check_digest(
    to: &Reference,
    r: &ureq::http::Response<ureq::Body>,
    d: &str,
) -> Result<(), RegistryError> {
    match header(r, "docker-content-digest") {
        Some(got) if got != d => Err(RegistryError::DigestMismatch {
            registry: to.registry.clone(),
            what: "blob".into(),
            sent: d.into(),
            got,
        }),
        _ => Ok(()),
    }
}

fn push_blob(
    c: &mut Client,
    to: &Reference,
    b: &Blob,
    opts: &PushOptions<'_>,
    progress: &dyn Progress,
) -> Result<BlobOutcome, RegistryError> {
    let d = &b.digest;
    let repo = &to.repository;
    let head = c.send("HEAD", &format!("/v2/{repo}/blobs/{d}"), &[], Body::Empty)?;
    if head.status().is_success() {
        return Ok(BlobOutcome::Present);
    }
    // Each candidate in turn (distribution spec, "Mounting a blob from another repository"):
    // a registry that cannot mount from one answers 202 and opens an upload instead, which is
    // cancelled before the next is tried, and kept for the upload after the last.
    let mut session: Option<String> = None;
    for from in opts.mount_from.iter().filter(|f| *f != repo) {
        if let Some(open) = session.take() {
            let _ = c.send("DELETE", &open, &[], Body::Empty);
        }
        let r = c.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"),
            &[],
            Body::Empty,
        )?;
        match r.status().as_u16() {
            201 => {
                check_digest(to, &r, d)?;
                return Ok(BlobOutcome::Mounted);
            }
            202 => session = header(&r, "location"),
            _ => {}
        }
    }
    let chunk = opts
        .chunk_size
        .or((b.size > AUTO_CHUNK_ABOVE).then_some(AUTO_CHUNK_SIZE))
        .filter(|&c| c > 0 && c < b.size);
    let attempts = c.retry.attempts;
    for n in 1..=attempts {
        if n > 1 {
            std::thread::sleep(c.retry.delay(n));
            progress.restart(d);
        }
        let location = match session.take() {
            Some(l) => l,
            None => start_upload(c, repo, d)?,
        };
        let result = match chunk {
            Some(size) => upload_chunked(c, b, location, size, progress),
            None => upload_monolithic(c, b, location, progress),
        };
        match result {
            Ok(r) => {
                check_digest(to, &r, d)?;
                return Ok(BlobOutcome::Uploaded);
            }
            Err(e @ RegistryError::Unreachable { .. }) if n < attempts => {
                let _ = e;
                continue;
            }
            Err(RegistryError::Unreachable {
                registry,
                request,
                message,
                ..
            }) => {
                return Err(RegistryError::Unreachable {
                    registry,
                    request: format!("uploading {d} ({request})"),
                    message,
                    attempts,
                })
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

fn start_upload(c: &mut Client, repo: &str, d: &str) -> Result<String, RegistryError> {
    let r = c.send(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        Body::Empty,
    )?;
    let r = c.expect(r, 202, || format!("starting the upload of {d}"))?;
    header(&r, "location").ok_or_else(|| c.err("the upload answer has no Location".into()))
}

fn with_digest(location: &str, d: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={d}")
}

fn read_err(b: &Blob, e: std::io::Error) -> RegistryError {
    let path = match &b.source {
        BlobSource::File(p) => p.display().to_string(),
        BlobSource::Bytes(_) => b.digest.clone(),
    };
    RegistryError::Layout {
        path,
        message: e.to_string(),
    }
}

fn upload_monolithic(
    c: &mut Client,
    b: &Blob,
    location: String,
    progress: &dyn Progress,
) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
    let inner = b.open(0, b.size).map_err(|e| read_err(b, e))?;
    let mut reader = Counting {
        inner,
        digest: &b.digest,
        progress,
    };
    let r = c.send(
        "PUT",
        &with_digest(&location, &b.digest),
        &[("Content-Type", binship_oci::media_type::OCTET_STREAM)],
        Body::Stream(&mut reader, b.size),
    )?;
    c.expect(r, 201, || format!("uploading {}", b.digest))
}

fn upload_chunked(
    c: &mut Client,
    b: &Blob,
    mut location: String,
    chunk: u64,
    progress: &dyn Progress,
) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
    let mut offset = 0;
    while offset < b.size {
        let len = chunk.min(b.size - offset);
        let inner = b.open(offset, len).map_err(|e| read_err(b, e))?;
        let mut reader = Counting {
            inner,
            digest: &b.digest,
            progress,
        };
        let range = format!("{offset}-{}", offset + len - 1);
        let r = c.send(
            "PATCH",
            &location,
            &[
                ("Content-Type", binship_oci::media_type::OCTET_STREAM),
                ("Content-Range", &range),
            ],
            Body::Stream(&mut reader, len),
        )?;
        let r = c.expect(r, 202, || {
            format!("uploading chunk {range} of {}", b.digest)
        })?;
        // The registry says how much it has: `0-<last byte>`.
        let have = header(&r, "range").unwrap_or_default();
        if have != format!("0-{}", offset + len - 1) {
            return Err(c.err(format!(
                "after chunk {range} of {} the registry has `{have}`",
                b.digest
            )));
        }
        location =
            header(&r, "location").ok_or_else(|| c.err("a chunk answer has no Location".into()))?;
        offset += len;
    }
    let r = c.send(
        "PUT",
        &with_digest(&location, &b.digest),
        &[("Content-Type", binship_oci::media_type::OCTET_STREAM)],
        Body::Empty,
    )?;
    c.expect(r, 201, || format!("closing the upload of {}", b.digest))
}

/// An image as the writer produced it, ready to push: the top manifest's bytes and media type,
/// the blobs it names (config and layers), and for an image index the platform images.
#[derive(Debug, Clone)]
pub struct PushImage {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub blobs: Vec<Blob>,
    /// An index's platform images, pushed by digest before the index.
    pub children: Vec<PushImage>,
}

/// Pushes `img` to `to` (distribution spec: blobs, then each platform manifest by digest,
/// then the top manifest under the tag), all through one client.
pub fn push_image(
    to: &Reference,
    img: &PushImage,
    opts: &PushOptions<'_>,
) -> Result<Pushed, RegistryError> {
    if img.children.is_empty() {
        return push(to, &img.manifest, &img.media_type, &img.blobs, opts);
    }
    let mut c = client(to, opts)?;
    let mut all = Pushed {
        reference: to.to_string(),
        manifest_digest: String::new(),
        uploaded: vec![],
        mounted: vec![],
        skipped: vec![],
        bytes_uploaded: 0,
        manifest_size: img.manifest.len() as u64,
        media_type: img.media_type.clone(),
        oci_subject: None,
    };
    for child in &img.children {
        let d = binship_oci::digest_string(&child.manifest);
        let p = push_with(
            &mut c,
            &to.with_digest(&d),
            &child.manifest,
            &child.media_type,
            &child.blobs,
            opts,
        )?;
        all.uploaded.extend(p.uploaded);
        all.mounted.extend(p.mounted);
        all.skipped.extend(p.skipped);
        all.bytes_uploaded += p.bytes_uploaded;
    }
    let p = push_with(&mut c, to, &img.manifest, &img.media_type, &img.blobs, opts)?;
    all.manifest_digest = p.manifest_digest;
    Ok(all)
}

/// Points tag `new_tag` of `repo` at the manifest `digest` that registry already holds (GET by
/// digest, PUT under the tag, the digest checked). Used by rollback.
pub fn retag(
    repo: &Reference,
    digest: &str,
    new_tag: &str,
    insecure: bool,
) -> Result<(), RegistryError> {
    let mut p = crate::Puller::open(repo, insecure, None)?;
    let (bytes, media, got) = p.manifest(digest)?;
    if got != digest {
        return Err(RegistryError::Corrupt {
            registry: repo.registry.clone(),
            what: format!("manifest {digest}"),
            expected: digest.into(),
            got,
        });
    }
    let media = if media.is_empty() {
        binship_oci::media_type::MANIFEST.to_string()
    } else {
        media
    };
    let c = p.client();
    let put = c.send(
        "PUT",
        &format!("/v2/{}/manifests/{new_tag}", repo.repository),
        &[("Content-Type", media.as_str())],
        Body::Bytes(&bytes),
    )?;
    c.expect(put, 201, || format!("tagging {new_tag}"))?;
    Ok(())
}
