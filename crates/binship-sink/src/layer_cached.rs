//! [`LayerCached`]: a [`Sink`] wrapper that compresses each layer once. Before the inner sink
//! writes, every layer binship assembles is identified by its diff_id (tar and sha256, no
//! compression, remembered by the layer's content key: [`LayerStore::diff_id`]) and, when a
//! [`LayerStore`] holds it with the request's compression and level, replaced by the stored
//! blob, which the sink copies byte for byte; after an OCI layout is written, the layers it
//! compressed are put in the store. The image's bytes are the same either way.

use std::path::Path;

use binship_image::config::Layer;
use binship_image::layer::Compression;
use binship_image::layer_store::LayerStore;
use binship_image::ImageSpec;

use crate::{Format, ImageReader, Sink, SinkError, WriteRequest, Written};

/// `inner`, with its layers compressed once through `store` (see the module docs).
pub struct LayerCached<'a> {
    pub inner: Box<dyn Sink>,
    pub store: &'a LayerStore,
}

impl LayerCached<'_> {
    /// `spec` with each assembled layer the store holds replaced by its stored blob; the
    /// diff_ids of those it does not hold, and of those it does.
    fn swap(
        &self,
        spec: &ImageSpec,
        c: Compression,
    ) -> Result<(ImageSpec, Vec<String>, Vec<String>), SinkError> {
        let mut spec = spec.clone();
        let (mut misses, mut hits) = (Vec::new(), Vec::new());
        for layer in &mut spec.layers {
            if let Layer::Rootfs(r) = layer {
                let (id, _) = self.store.diff_id(r, spec.created)?;
                match self.store.get(&id, c) {
                    Some(blob) => {
                        *layer = Layer::Blob(blob);
                        hits.push(id);
                    }
                    None => misses.push(id),
                }
            }
        }
        Ok((spec, misses, hits))
    }
}

impl Sink for LayerCached<'_> {
    fn format(&self) -> Format {
        self.inner.format()
    }

    fn write(&self, req: &WriteRequest) -> Result<Written, SinkError> {
        let c = req.compression;
        if c == Compression::None || self.format() == Format::DockerArchive {
            return self.inner.write(req);
        }
        let (spec, mut misses, mut hits) = self.swap(req.spec, c)?;
        let mut others = Vec::new();
        for o in req.others {
            let (o, m, h) = self.swap(o, c)?;
            others.push(o);
            misses.extend(m);
            hits.extend(h);
        }
        let written = match self.inner.write(&WriteRequest {
            spec: &spec,
            others: &others,
            tag: req.tag,
            compression: c,
            out: req.out,
            annotations: req.annotations.clone(),
            system: req.system.clone(),
        }) {
            Ok(w) => w,
            // A stored blob that changed on disk fails the sink's check while copying: the
            // entries go and the layers are compressed again.
            Err(_) if !hits.is_empty() => {
                for id in &hits {
                    self.store.forget(id, c);
                }
                misses.extend(hits);
                self.inner.write(req)?
            }
            Err(e) => return Err(e),
        };
        // An OCI layout has each blob as a file: store the layers compressed just now. A store
        // that cannot be written costs the next write a compression, nothing else.
        if written.pushable.is_some() {
            for l in written
                .layers
                .iter()
                .filter(|l| misses.contains(&l.diff_id))
            {
                let blob = req
                    .out
                    .join("blobs/sha256")
                    .join(l.digest.trim_start_matches("sha256:"));
                let _ = self.store.put(l, c, &blob);
            }
        }
        Ok(written)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ImageReader>, SinkError> {
        self.inner.open(path)
    }
}
