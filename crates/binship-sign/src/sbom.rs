//! SBOMs from what a binary says about itself: [`read_inventory`] reads Go build info (the
//! `\xff Go buildinf:` header: Go version, main module, every dependency with version and sum,
//! build settings) and cargo-auditable data (the zlib-compressed JSON in a `.dep-v0` section);
//! [`spdx`] and [`cyclonedx`] write SPDX 2.3 and CycloneDX 1.5 JSON from an [`Inventory`]. A
//! binary with neither gets an SBOM that says so, never an invented dependency list.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::SignError;

/// One module or crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub name: String,
    pub version: String,
    /// Go: the go.sum hash (h1:...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    /// Go: `=> path version` replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// purl: pkg:golang/... or pkg:cargo/...
    pub purl: String,
}

/// What a binary embeds about how it was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The binary's file name, size and sha256.
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// "go", "rust-cargo-auditable" or "none".
    pub source: String,
    /// "go1.19.8" for Go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<Component>,
    pub dependencies: Vec<Component>,
    /// Go build settings (`-trimpath=true`, `CGO_ENABLED=0`, `GOARCH=arm64`, ...).
    pub settings: Vec<(String, String)>,
    /// Why there is no dependency list, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        x |= u64::from(c & 0x7f) << (7 * i);
        if c < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

/// Go's build info: (version, modinfo text), from the inline format of Go 1.18+.
fn go_buildinfo(bytes: &[u8]) -> Result<Option<(String, String)>, String> {
    let Some(at) = bytes
        .windows(GO_MAGIC.len())
        .enumerate()
        .filter(|(i, _)| i % 16 == 0)
        .find(|(_, w)| *w == GO_MAGIC)
        .map(|(i, _)| i)
    else {
        return Ok(None);
    };
    let hdr = &bytes[at..];
    if hdr.len() < 32 {
        return Err("Go build info header is truncated".into());
    }
    if hdr[15] & 2 == 0 {
        return Err("Go build info in the pre-1.18 pointer format is not read".into());
    }
    let mut rest = &hdr[32..];
    let mut read = || -> Result<&[u8], String> {
        let (n, used) = uvarint(rest).ok_or("Go build info: bad length")?;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(used))
            .filter(|end| *end <= rest.len())
            .ok_or("Go build info is truncated")?;
        let s = &rest[used..end];
        rest = &rest[end..];
        Ok(s)
    };
    let version = String::from_utf8_lossy(read()?).into_owned();
    let mut modinfo = read()?;
    // The module info is wrapped in 16-byte sentinels (cut as bytes: the text may not be UTF-8).
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    Ok(Some((
        version,
        String::from_utf8_lossy(modinfo).into_owned(),
    )))
}

fn go_component(fields: &[&str]) -> Component {
    let name = fields.first().copied().unwrap_or("").to_string();
    let version = fields.get(1).copied().unwrap_or("").to_string();
    Component {
        purl: format!("pkg:golang/{name}@{version}"),
        name,
        version,
        sum: fields
            .get(2)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string()),
        replaced_by: None,
    }
}

/// Reads what `path` embeds about its build.
pub fn read_inventory(path: &Path) -> Result<Inventory, SignError> {
    let bytes = std::fs::read(path).map_err(crate::io("reading", path))?;
    inventory_of(path, &bytes)
}

/// As [`read_inventory`], for a binary already in memory (`path` names it in messages).
pub fn inventory_of(path: &Path, bytes: &[u8]) -> Result<Inventory, SignError> {
    use sha2::Digest;
    let bad = |m: String| SignError::Sbom {
        path: path.into(),
        message: m,
    };
    let mut inv = Inventory {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        source: "none".into(),
        toolchain: None,
        main: None,
        dependencies: vec![],
        settings: vec![],
        note: None,
    };
    if goblin::elf::Elf::parse(bytes).is_err() {
        return Err(bad("not an ELF binary".into()));
    }
    match go_buildinfo(bytes).map_err(bad)? {
        Some((version, modinfo)) => {
            inv.source = "go".into();
            inv.toolchain = Some(version);
            for line in modinfo.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                match f.first().copied() {
                    Some("mod") => inv.main = Some(go_component(&f[1..])),
                    Some("dep") => inv.dependencies.push(go_component(&f[1..])),
                    Some("=>") => {
                        if let Some(d) = inv.dependencies.last_mut() {
                            d.replaced_by = Some(f[1..].join(" ").trim().to_string());
                        }
                    }
                    Some("build") => {
                        if let Some((k, v)) = f.get(1).and_then(|kv| kv.split_once('=')) {
                            inv.settings.push((k.into(), v.into()));
                        }
                    }
                    _ => {}
                }
            }
            if inv.main.is_none() {
                inv.note = Some("Go build info without a main module (built from a file list?)".into());
            }
        }
        None => match auditable(bytes).map_err(bad)? {
            Some(packages) => {
                inv.source = "rust-cargo-auditable".into();
                for p in packages {
                    let c = Component {
                        purl: format!("pkg:cargo/{}@{}", p.0, p.1),
                        name: p.0,
                        version: p.1,
                        sum: None,
                        replaced_by: None,
                    };
                    if p.2 {
                        inv.main = Some(c);
                    } else {
                        inv.dependencies.push(c);
                    }
                }
            }
            None => {
                inv.note = Some(
                    "the binary embeds no dependency information (no Go build info, no cargo-auditable .dep-v0 section); nothing is listed rather than guessed".into(),
                )
            }
        },
    }
    Ok(inv)
}

/// A cargo-auditable package: (name, version, is_root).
pub type AuditablePackage = (String, String, bool);

/// cargo-auditable's packages.
fn auditable(bytes: &[u8]) -> Result<Option<Vec<AuditablePackage>>, String> {
    let elf = goblin::elf::Elf::parse(bytes).map_err(|e| e.to_string())?;
    let Some(sh) = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".dep-v0"))
    else {
        return Ok(None);
    };
    let start = sh.sh_offset as usize;
    let end = start.saturating_add(sh.sh_size as usize);
    let data = bytes
        .get(start..end)
        .ok_or(".dep-v0 section lies outside the file")?;
    decode_auditable(data).map(Some)
}

/// Decodes cargo-auditable's zlib-compressed JSON (at most 8 MiB).
fn decode_auditable(data: &[u8]) -> Result<Vec<AuditablePackage>, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(8 << 20)
        .read_to_end(&mut json)
        .map_err(|e| format!(".dep-v0 is not zlib data: {e}"))?;
    let v: Value =
        serde_json::from_slice(&json).map_err(|e| format!(".dep-v0 is not JSON: {e}"))?;
    Ok(v["packages"]
        .as_array()
        .ok_or(".dep-v0 has no packages")?
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["version"].as_str().unwrap_or("").to_string(),
                p["root"].as_bool().unwrap_or(false),
            )
        })
        .collect())
}

fn spdx_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// SPDX 2.3 JSON. `created` is RFC 3339; the namespace is derived from the binary's sha256.
pub fn spdx(inv: &Inventory, app: &str, version: u32, created: &str) -> Value {
    let bin_id = format!("SPDXRef-Binary-{}", spdx_id(&inv.name));
    let mut packages = vec![json!({
        "SPDXID": bin_id,
        "name": inv.name,
        "versionInfo": format!("v.{version}"),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": inv.sha256 }],
        "comment": inv.note.clone().unwrap_or_else(|| format!(
            "built by {}; dependency data from {}", inv.toolchain.clone().unwrap_or_default(), inv.source)),
    })];
    let mut rels = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": bin_id,
    })];
    let mut add = |c: &Component, kind: &str, rel: &str| {
        let id = format!(
            "SPDXRef-{kind}-{}",
            spdx_id(&format!("{}-{}", c.name, c.version))
        );
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": c.purl,
            }],
        });
        if let Some(r) = &c.replaced_by {
            p["comment"] = json!(format!("replaced by {r}"));
        }
        packages.push(p);
        rels.push(
            json!({ "spdxElementId": bin_id, "relationshipType": rel, "relatedSpdxElement": id }),
        );
    };
    if let Some(m) = &inv.main {
        add(m, "Module", "CONTAINS");
    }
    for d in &inv.dependencies {
        add(d, "Dep", "DEPENDS_ON");
    }
    if let Some(t) = &inv.toolchain {
        let c = Component {
            name: "go".into(),
            version: t.clone(),
            sum: None,
            replaced_by: None,
            purl: format!("pkg:golang/std@{t}"),
        };
        add(&c, "Toolchain", "BUILD_TOOL_OF");
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{app} v.{version} ({})", inv.name),
        "documentNamespace": format!("https://binship.invalid/spdx/{app}/v.{version}/{}", inv.sha256),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: binship-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": rels,
    })
}

/// CycloneDX 1.5 JSON.
pub fn cyclonedx(inv: &Inventory, app: &str, version: u32, created: &str) -> Value {
    let h = &inv.sha256;
    // A UUID-shaped serial derived from the binary's digest: same binary, same serial.
    let serial = format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let comp = |c: &Component| {
        let mut v = json!({
            "type": "library",
            "bom-ref": c.purl,
            "name": c.name,
            "version": c.version,
            "purl": c.purl,
        });
        if let Some(s) = &c.sum {
            v["properties"] = json!([{ "name": "go:sum", "value": s }]);
        }
        if let Some(r) = &c.replaced_by {
            v["properties"] = json!([{ "name": "go:replaced-by", "value": r }]);
        }
        v
    };
    let mut props: Vec<Value> = inv
        .settings
        .iter()
        .map(|(k, v)| json!({ "name": format!("go:build:{k}"), "value": v }))
        .collect();
    if let Some(t) = &inv.toolchain {
        props.push(json!({ "name": "go:toolchain", "value": t }));
    }
    if let Some(n) = &inv.note {
        props.push(json!({ "name": "binship:note", "value": n }));
    }
    let mut components: Vec<Value> = inv.main.iter().map(comp).collect();
    components.extend(inv.dependencies.iter().map(comp));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": { "components": [{ "type": "application", "name": "binship", "version": env!("CARGO_PKG_VERSION") }] },
            "component": {
                "type": "application",
                "bom-ref": format!("binship:{app}@v.{version}"),
                "name": app,
                "version": format!("v.{version}"),
                "hashes": [{ "alg": "SHA-256", "content": inv.sha256 }],
                "properties": props,
            },
        },
        "components": components,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_auditable_json_decode() {
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(uvarint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(br#"{"packages":[{"name":"echo","version":"0.1.0","source":"local","root":true},{"name":"libc","version":"0.2.1","source":"crates.io"}]}"#).unwrap();
        let p = decode_auditable(&z.finish().unwrap()).unwrap();
        assert_eq!(p[0], ("echo".into(), "0.1.0".into(), true));
        assert_eq!(p[1], ("libc".into(), "0.2.1".into(), false));
        assert!(decode_auditable(b"not zlib")
            .unwrap_err()
            .contains("not zlib"));
    }

    #[test]
    fn a_binary_without_build_info_says_so() {
        let inv = read_inventory(Path::new("/bin/sh")).unwrap();
        assert_eq!(inv.source, "none");
        assert!(inv.dependencies.is_empty() && inv.main.is_none());
        assert!(inv
            .note
            .as_deref()
            .unwrap()
            .contains("no dependency information"));
        let s = spdx(&inv, "sh", 1, "2026-01-01T00:00:00Z");
        assert_eq!(s["packages"].as_array().unwrap().len(), 1);
        let c = cyclonedx(&inv, "sh", 1, "2026-01-01T00:00:00Z");
        assert_eq!(c["components"], json!([]));
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), b"#!/bin/sh\n").unwrap();
        let e = read_inventory(&d.path().join("x")).unwrap_err().to_string();
        assert!(e.contains("not an ELF binary"), "{e}");
    }
}
