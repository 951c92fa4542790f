#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: the named starting inputs of the fuzz targets (also read by the
stable proptests in crates/binship/tests/fuzz_corpus.rs). Usage: make_seeds.py [GO_BINARY]
(GO_BINARY, e.g. a stored go-id, gives the Go build-info seed)."""
import gzip, hashlib, io, json, os, shutil, sys, tarfile

root = os.path.dirname(os.path.abspath(__file__))
seeds = os.path.join(root, "seeds")

def tar_of(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, typ, data, link in entries:
            ti = tarfile.TarInfo(name); ti.type = typ; ti.size = len(data); ti.mode = 0o644; ti.mtime = 0
            if link: ti.linkname = link
            t.addfile(ti, io.BytesIO(data) if data else None)
    return b.getvalue()

def files(pairs):
    return tar_of([(n, tarfile.REGTYPE, d, None) for n, d in pairs])

def write(target, name, data):
    os.makedirs(os.path.join(seeds, target), exist_ok=True)
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)

repo = os.path.dirname(root)
for app in ("go-id", "c-health"):
    shutil.copy(os.path.join(repo, "images/standalone-binaries", app, "binship.toml"), os.path.join(seeds, "recipe", app + ".toml"))
D, R, S, L = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
write("base_import", "plain.tar", tar_of([("etc/", D, b"", None), ("etc/os-release", R, b"ID=alpine\n", None),
      ("bin/sh", S, b"", "busybox"), ("bin/busybox", R, b"\x7fELF", None), ("bin/ln", L, b"", "bin/busybox")]))
write("base_import", "plain.tar.gz", gzip.compress(files([("etc/passwd", b"root:x:0:0::/:/bin/sh\n")]), mtime=0))
write("base_import", "dotdot.tar", files([("../x", b"x")]))
layer = files([("usr/local/bin/app", b"\x7fELF-not-really")])
ld = hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"User": "65532:65532"},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}, sort_keys=True).encode()
cd = hashlib.sha256(config).hexdigest()
write("image_readers", "docker-archive.tar", files([
    ("manifest.json", json.dumps([{"Config": cd + ".json", "RepoTags": ["app:v.1"], "Layers": [ld + "/layer.tar"]}]).encode()),
    (cd + ".json", config), (ld + "/layer.tar", layer)]))
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": len(layer)}]}, sort_keys=True).encode()
md = hashlib.sha256(manifest).hexdigest()
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + md, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v.1"}}]}).encode()
write("image_readers", "oci-archive.tar", files([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index),
    ("blobs/sha256/" + md, manifest), ("blobs/sha256/" + cd, config), ("blobs/sha256/" + ld, layer)]))
write("elf_buildinfo", "true-head", open("/bin/true", "rb").read()[:8192])
if len(sys.argv) > 1:
    go = open(sys.argv[1], "rb").read()
    i = go.find(b"\xff Go buildinf:")
    write("elf_buildinfo", "go-header-buildinfo", go[:4096] + go[i:i + 4096])
