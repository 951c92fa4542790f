//! `tiny`: an app whose binary is a 129-byte static ELF made here (kind command), so its
//! stored version, and every image of it, is the same on every machine; and a Debian-like
//! rootfs tar with fixed times.

use super::*;
use binship_image::testing::{tar_of, Member};
use sha2::{Digest, Sha256};

/// A static x86-64 ELF that exits 0 whatever its arguments: `mov eax, 60; xor edi, edi;
/// syscall` after one PT_LOAD header.
pub fn tiny_elf() -> Vec<u8> {
    let code = [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let total = (64 + 56 + code.len()) as u64;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(0x400000u64 + 120).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R X
    for v in [0u64, 0x400000, 0x400000, total, total, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&code);
    assert_eq!(e.len() as u64, total);
    e
}

/// A project with app `tiny` (kind command: copies the ELF; `extra` goes into its recipe).
pub fn tiny_app(extra: &str) -> Project {
    let p = Project::new().with_app(
        "tiny",
        &format!("kind = \"command\"\n[build]\ncommand = \"cp tiny \\\"$BINSHIP_OUT\\\"\"\noutput = \"tiny\"\n[test]\nservice = false\n[[test.command]]\nname = \"runs\"\nargs = [\"--version\"]\nexit = 0\n{extra}"),
        &[],
    );
    let src = p.path().join("src/tiny/tiny");
    std::fs::write(&src, tiny_elf()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// [`tiny_app`] built as v.1.
pub fn tiny_project() -> Project {
    let p = tiny_app("");
    p.run(&["build", "tiny"]).ok();
    p
}

/// A Debian-like root filesystem with systemd's binary (enough for every format), fixed times.
pub fn debian_like_tar() -> Vec<u8> {
    tar_of(&[
        Member::dir("etc"),
        Member::file(
            "etc/os-release",
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
            0o644,
        ),
        Member::file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
            0o644,
        ),
        Member::file("etc/group", "root:x:0:\napp:x:1000:\n", 0o644),
        Member::dir("lib"),
        Member::dir("lib/systemd"),
        Member::file("lib/systemd/systemd", "#!/bin/sh\n", 0o755),
        Member::dir("sbin"),
        Member::symlink("sbin/init", "/lib/systemd/systemd"),
        Member::dir("tmp"),
    ])
}

/// The inputs the digest and flag-table tests pack from, under `inputs/` in the project and
/// named relative to it (binship runs there, and a base's name goes into a label, so two
/// projects give the same bytes): [`CA`], [`ROOTFS`] (a [`debian_like_tar`]) and two image
/// bases binship packs of `tiny` on it, [`OCI_BASE`] and [`DOCKER_BASE`].
pub fn write_inputs(p: &Project, epoch: &str) {
    let dir = p.path().join("inputs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        p.path().join(CA),
        "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(p.path().join(ROOTFS), debian_like_tar()).unwrap();
    let rootfs_base = format!("rootfs:{ROOTFS}");
    for (fmt, out) in [("oci", OCI_BASE), ("docker-archive", DOCKER_BASE)] {
        let r: Run = p
            .cmd(&[
                "scaffold",
                "tiny",
                "--base",
                &rootfs_base,
                "--format",
                fmt,
                "--service",
                "none",
                "--tag",
                "base:1",
                "-o",
                out,
            ])
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap()
            .into();
        r.ok();
    }
}

/// A CA bundle for `--ca-bundle` (see [`write_inputs`]).
pub const CA: &str = "inputs/ca.pem";
/// The Debian-like rootfs tar.
pub const ROOTFS: &str = "inputs/rootfs.tar";
/// An OCI layout packed by binship on [`ROOTFS`].
pub const OCI_BASE: &str = "inputs/oci-base";
/// A docker-archive packed by binship on [`ROOTFS`].
pub const DOCKER_BASE: &str = "inputs/docker-base.tar";

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 of a file, or of a directory's sorted `path sha256` lines.
pub fn digest_of(path: &Path) -> String {
    if path.is_file() {
        return sha256_hex(&std::fs::read(path).unwrap());
    }
    let mut lines = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                stack.push(e);
            } else {
                let rel = e.strip_prefix(path).unwrap().display().to_string();
                lines.push(format!("{rel} {}", sha256_hex(&std::fs::read(&e).unwrap())));
            }
        }
    }
    lines.sort();
    sha256_hex(lines.join("\n").as_bytes())
}
