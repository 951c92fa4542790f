//! ELF inspection: [`BinaryInfo`] says whether a binary is static (no PT_INTERP, no
//! DT_NEEDED), its architecture and whether it is stripped.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::BuildError;

/// What the ELF headers say about a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryInfo {
    /// No program interpreter and no needed shared libraries.
    #[serde(rename = "static")]
    pub is_static: bool,
    /// PT_INTERP, when present (e.g. /lib64/ld-linux-x86-64.so.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// DT_NEEDED entries.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub needed: Vec<String>,
    /// Architecture in Go/OCI spelling (amd64, arm64, ...).
    pub arch: String,
    /// Position-independent (ET_DYN); a static-pie is static and pie.
    pub pie: bool,
    /// No .symtab section.
    pub stripped: bool,
}

/// Parses the ELF headers of `bytes` (the file at `path`, named in errors).
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<BinaryInfo, BuildError> {
    use goblin::elf::{header, section_header, Elf};
    let elf = Elf::parse(bytes).map_err(|e| BuildError::NotElf {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let arch = match elf.header.e_machine {
        header::EM_X86_64 => "amd64",
        header::EM_AARCH64 => "arm64",
        header::EM_386 => "386",
        header::EM_ARM => "arm",
        header::EM_RISCV => "riscv64",
        header::EM_PPC64 => "ppc64le",
        header::EM_S390 => "s390x",
        other => {
            return Ok(BinaryInfo {
                is_static: elf.interpreter.is_none() && elf.libraries.is_empty(),
                interpreter: elf.interpreter.map(str::to_string),
                needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
                arch: format!("elf-machine-{other}"),
                pie: elf.header.e_type == header::ET_DYN,
                stripped: true,
            })
        }
    };
    let stripped = !elf
        .section_headers
        .iter()
        .any(|s| s.sh_type == section_header::SHT_SYMTAB);
    Ok(BinaryInfo {
        is_static: elf.interpreter.is_none() && elf.libraries.is_empty(),
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        arch: arch.into(),
        pie: elf.header.e_type == header::ET_DYN,
        stripped,
    })
}

/// Whether the ELF in `bytes` has a section named `name` (e.g. cargo-auditable's `.dep-v0`);
/// false for anything that does not parse.
pub fn has_section(bytes: &[u8], name: &str) -> bool {
    goblin::elf::Elf::parse(bytes).is_ok_and(|elf| {
        elf.section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_elf_is_refused() {
        let e = inspect(Path::new("x"), b"#!/bin/sh\necho hi\n").unwrap_err();
        assert!(e.to_string().starts_with("x: not an ELF binary"), "{e}");
    }

    #[test]
    fn host_tools_are_dynamic() {
        // /bin/sh on Debian is dynamically linked against libc.
        let bytes = std::fs::read("/bin/sh").unwrap();
        let info = inspect(Path::new("/bin/sh"), &bytes).unwrap();
        assert!(!info.is_static);
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{info:?}"
        );
        assert_eq!(info.arch, binship_recipe::native_arch());
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let bytes = std::fs::read("/bin/sh").unwrap();
        for cut in [4, 20, 64, 100, 1000] {
            let _ = inspect(Path::new("t"), &bytes[..cut]);
        }
    }
}
