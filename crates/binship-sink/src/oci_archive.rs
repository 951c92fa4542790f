//! OCI archive: a tar of an OCI image layout (what `skopeo copy ... oci-archive:` and
//! `podman save --format oci-archive` write). Built as a layout in a temp dir, then tarred
//! with fixed metadata and sorted members into a temp file that is renamed into place.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use binship_image::validate::{ImageReader, ValidationError};

use crate::oci_layout::{update_index, write_blobs, BlobSource, OciReader};
use crate::tarfile::{self, TarIndex};
use crate::{check_file_output, io, Sink, SinkError, TempPath, WriteRequest, Written};

pub struct OciArchive;

impl Sink for OciArchive {
    fn format(&self) -> crate::Format {
        crate::Format::OciArchive
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        let out = req.out;
        check_file_output(out)?;
        let layout = TempPath::beside(&out.with_extension("layout"));
        std::fs::create_dir(&layout.0).map_err(io("creating", &layout.0))?;
        let blobs = write_blobs(&layout.0, req)?;
        update_index(&layout.0, req, &blobs)?;
        let tmp = TempPath::beside(out);
        let f = File::create(&tmp.0).map_err(io("creating", &tmp.0))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mtime = req.spec.created;
        tar_layout(&layout.0, &mut w, mtime).map_err(io("writing", out))?;
        let f = w
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("writing", out))?;
        let bytes = f.metadata().map_err(io("writing", out))?.len();
        drop(f);
        let previous = crate::put(tmp, out)?;
        Ok(Written {
            format: crate::Format::OciArchive,
            path: out.into(),
            tag: req.tag.into(),
            manifest_digest: Some(blobs.manifest_digest),
            config_digest: blobs.config_digest,
            layers: blobs.layers,
            bytes,
            flat_bytes: None,
            pushable: None,
            previous,
        })
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        Ok(Box::new(open(path)?))
    }
}

fn tar_layout(dir: &Path, w: &mut dyn Write, mtime: u64) -> std::io::Result<()> {
    for name in ["oci-layout", "index.json"] {
        tarfile::member(w, name, &std::fs::read(dir.join(name))?, mtime)?;
    }
    tarfile::dir(w, "blobs/", mtime)?;
    tarfile::dir(w, "blobs/sha256/", mtime)?;
    let mut blobs: Vec<PathBuf> = std::fs::read_dir(dir.join("blobs/sha256"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    blobs.sort();
    for b in blobs {
        let mut f = File::open(&b)?;
        let size = f.metadata()?.len();
        let name = format!(
            "blobs/sha256/{}",
            b.file_name().unwrap_or_default().to_string_lossy()
        );
        w.write_all(tarfile::header(&name, size, mtime, false)?.as_bytes())?;
        let n = std::io::copy(&mut (&mut f).take(size), w)?;
        if n != size {
            return Err(std::io::Error::other(format!(
                "{} changed while being archived",
                b.display()
            )));
        }
        tarfile::pad(w, size)?;
    }
    tarfile::finish(w)
}

/// Blobs read in place from the archive's members.
pub struct TarBlobs(TarIndex);

impl BlobSource for TarBlobs {
    fn read(&self, name: &str) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(self.0.open_member(name)?))
    }
}

pub fn open(path: &Path) -> Result<OciReader<TarBlobs>, ValidationError> {
    let medium = format!("oci-archive {}", path.display());
    Ok(OciReader::new(
        TarBlobs(TarIndex::open(path, &medium)?),
        medium,
    ))
}
