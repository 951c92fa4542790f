//! No silent no-ops: every `scaffold` flag against every base kind (scratch, static, rootfs,
//! an OCI image, a docker-archive image) and every format is either applied (the output's bytes
//! differ from the same scaffold without it) or refused (exit 2, one line naming the flag,
//! nothing written). With `SOURCE_DATE_EPOCH` fixed, a flag that did nothing would give the
//! baseline's bytes. The table must name every flag `scaffold --help` lists.

mod common;
use common::tiny::{digest_of, tiny_project, write_inputs, CA, DOCKER_BASE, OCI_BASE, ROOTFS};
use common::*;

use std::path::Path;

const FORMATS: [&str; 5] = ["docker-archive", "oci", "oci-archive", "lxc", "incus"];

/// What a flag does with a format and a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit 0 and other bytes than the baseline.
    Applied,
    /// Exit 2, the flag named, nothing written.
    Refused,
}

fn system(format: &str) -> bool {
    matches!(format, "lxc" | "incus")
}

/// The flags whose effect is on the written image, with the value tried and the rule.
#[allow(clippy::type_complexity)]
const ROWS: &[(&str, &[&str], fn(&str, &str) -> Expect)] = &[
    ("--compress", &["--compress", "zstd"], |f, _| {
        if matches!(f, "docker-archive" | "lxc") {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    ("--level", &["--level", "1"], |f, _| {
        if system(f) {
            Expect::Applied
        } else {
            Expect::Refused // needs --compress gzip|zstd
        }
    }),
    ("--tag", &["--tag", "other/tiny:7"], |f, _| {
        if system(f) {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    // Incus keeps the alias in its metadata; an LXC image carries no name.
    ("--alias", &["--alias", "tiny-x"], |f, _| {
        if f == "incus" {
            Expect::Applied
        } else {
            Expect::Refused
        }
    }),
    ("--split", &["--split"], |f, _| {
        if f == "incus" {
            Expect::Applied
        } else {
            Expect::Refused
        }
    }),
    ("--arg", &["--arg", "--serve"], |_, _| Expect::Applied),
    ("--env", &["--env", "GREETING=hi there"], |_, _| {
        Expect::Applied
    }),
    // The image bases were packed by binship for tiny: they hold user `tiny` (65532), and
    // another uid under that name is refused (the name is deterministic: the app's).
    ("--user", &["--user", "2000:2000"], |_, b| {
        if b.ends_with("-image") {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    ("--port", &["--port", "8080"], |f, _| {
        if system(f) {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    ("--workdir", &["--workdir", "/srv"], |f, _| {
        if system(f) {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    ("--stop-signal", &["--stop-signal", "SIGINT"], |f, _| {
        if system(f) {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }),
    ("--ca-bundle", &["--ca-bundle", "CA"], |_, b| {
        if b == "static" {
            Expect::Applied
        } else {
            Expect::Refused
        }
    }),
    ("--zoneinfo", &["--zoneinfo"], |_, b| {
        if b == "static" {
            Expect::Applied
        } else {
            Expect::Refused
        }
    }),
    // The Debian-like bases get systemd by default (auto); none takes the unit out. scratch and
    // static have no manager, so systemd is refused there.
    ("--service", &["--service", "SERVICE"], |f, b| {
        match (system(f), matches!(b, "scratch" | "static")) {
            (_, true) => Expect::Refused, // --service systemd: no systemd in the base
            (true, false) => Expect::Refused, // --service none: nothing would start it
            (false, false) => Expect::Applied, // --service none: the unit is left out
        }
    }),
];

/// Flags for a step that was not asked for (--push, --require-signed, --sign): refused
/// everywhere without it.
const ONLY_WITH: &[(&str, &[&str])] = &[
    ("--insecure", &["--insecure"]),
    ("--chunk-size", &["--chunk-size", "5M"]),
    ("--mount-from", &["--mount-from", "team/other"]),
    ("--pub", &["--pub", "some.pub"]),
    ("--key", &["--key", "some.key"]),
    ("--password-file", &["--password-file", "pw"]),
];

/// Flags that choose what is packed, where, or what happens around it; each has its own tests
/// (named here), and a bad value or combination is refused in `plan`'s unit tests.
const ELSEWHERE: &[(&str, &str)] = &[
    (
        "--version",
        "scaffold_cli: one_version_is_auto_selected..., version_selection",
    ),
    ("--type", "scaffold_cli: container types"),
    ("--format", "this table (its columns)"),
    ("--base", "this table (its rows), bases.rs"),
    ("--output", "every run here writes to -o"),
    ("--force", "exit_codes: 7 without it; scaffold_cli"),
    ("--allow-untested", "scaffold_cli: untested versions"),
    ("--platform", "multiarch.rs"),
    ("--require-signed", "supply_chain.rs"),
    (
        "--sign",
        "supply_chain.rs; refused without oci or --push in plan's unit tests",
    ),
    ("--sbom", "supply_chain.rs"),
    ("--push", "registry.rs"),
    (
        "--no-image-test",
        "image_test.rs: the label says skipped; a failing image is packed with it",
    ),
    (
        "--image-test-engine",
        "image_test.rs: the image test in real docker and podman; refused with --no-image-test and for lxc in plan's unit tests",
    ),
    ("--image-test-run-args", "image_test.rs (podman's ulimits)"),
    ("--json", "agent.rs (a global flag)"),
    ("--store", "store_safety.rs (a global flag)"),
    ("--help", "clap"),
    ("--quiet", "a global flag"),
    ("--verbose", "a global flag"),
];

struct Inputs {
    ca: String,
    bases: Vec<(&'static str, String)>,
}

fn inputs(p: &Project) -> Inputs {
    write_inputs(p, "1700000000");
    Inputs {
        ca: CA.into(),
        bases: vec![
            ("scratch", "scratch".into()),
            ("static", "static".into()),
            ("rootfs", format!("rootfs:{ROOTFS}")),
            ("oci-image", format!("oci:{OCI_BASE}")),
            ("docker-image", format!("docker-archive:{DOCKER_BASE}")),
        ],
    }
}

fn scaffold(p: &Project, base: &str, format: &str, extra: &[String], out: &Path) -> Run {
    let mut args: Vec<String> = ["scaffold", "tiny", "--base", base, "--format", format]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().cloned());
    // The fixtures' init is a stub that cannot boot (tests/lxc.rs checks that refusal); this
    // table is about what each flag does to the bytes.
    if system(format) && !extra.iter().any(|a| a.starts_with("--image-test")) {
        args.push("--no-image-test".into());
    }
    args.push("-o".into());
    args.push(out.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    p.cmd(&refs)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
        .into()
}

#[test]
fn every_flag_is_applied_or_refused_for_every_base_and_format() {
    if !Path::new("/usr/share/zoneinfo/Etc/UTC").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no tzdata"
        );
        eprintln!("SKIP: no /usr/share/zoneinfo on this host (Debian's tzdata)");
        return;
    }
    let p = tiny_project();
    let inp = inputs(&p);
    let out_dir = p.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for format in FORMATS {
        for (base_kind, base) in &inp.bases {
            let baseline_out = out_dir.join(format!("{format}-{base_kind}-baseline"));
            let baseline = scaffold(&p, base, format, &[], &baseline_out);
            // A system image needs a base with an init: scratch and static are refused whole.
            let base_ok = !(system(format) && matches!(*base_kind, "scratch" | "static"));
            if !base_ok {
                assert_eq!(baseline.code, 2, "{format} on {base_kind}: {baseline:?}");
            } else {
                assert_eq!(baseline.code, 0, "{format} on {base_kind}: {baseline:?}");
            }
            let baseline_digest = base_ok.then(|| digest_of(&baseline_out));
            for (flag, args, rule) in ROWS {
                n += 1;
                let service = if matches!(*base_kind, "scratch" | "static") {
                    "systemd"
                } else {
                    "none"
                };
                let extra: Vec<String> = args
                    .iter()
                    .map(|a| a.replace("CA", &inp.ca).replace("SERVICE", service))
                    .collect();
                let expect = if base_ok {
                    rule(format, base_kind)
                } else {
                    Expect::Refused
                };
                let out = out_dir.join(format!("{format}-{base_kind}{flag}"));
                let r = scaffold(&p, base, format, &extra, &out);
                let got = match r.code {
                    0 if Some(digest_of(&out)) != baseline_digest => Expect::Applied,
                    0 => {
                        failures.push(format!("{flag} on {format}/{base_kind}: exit 0 but the same bytes as without it (a silent no-op)"));
                        continue;
                    }
                    2 if !out.exists() => Expect::Refused,
                    c => {
                        failures.push(format!(
                            "{flag} on {format}/{base_kind}: exit {c}, output left: {}: {}",
                            out.exists(),
                            r.stderr.trim()
                        ));
                        continue;
                    }
                };
                if got != expect {
                    failures.push(format!(
                        "{flag} on {format}/{base_kind}: {got:?}, expected {expect:?}: {}",
                        r.stderr.trim()
                    ));
                } else if got == Expect::Refused && base_ok {
                    // One error line, naming the flag (or what the base lacks or holds).
                    let errors: Vec<&str> = r
                        .stderr
                        .lines()
                        .filter(|l| l.starts_with("error:"))
                        .collect();
                    let line = errors.join("\n");
                    let names_it = line.contains(flag)
                        || matches!(*flag, "--service" | "--user" | "--compress");
                    if errors.len() != 1 || !names_it {
                        failures.push(format!(
                            "{flag} on {format}/{base_kind}: refused with `{line}`"
                        ));
                    }
                }
            }
        }
    }
    // Without --push / --require-signed / --sign, their flags are refused by name.
    for (flag, args) in ONLY_WITH {
        n += 1;
        let extra: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = out_dir.join(format!("only-with{flag}"));
        let r = scaffold(&p, "scratch", "oci", &extra, &out);
        if r.code != 2 || out.exists() || !r.stderr.contains(flag) {
            failures.push(format!(
                "{flag} alone: exit {}, written {}: {}",
                r.code,
                out.exists(),
                r.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_names_every_scaffold_flag() {
    let p = Project::new();
    let help = p.run(&["scaffold", "--help"]).ok().stdout;
    let re_flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=' || c == '<')
        .filter(|w| {
            w.starts_with("--")
                && w.len() > 2
                && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .map(String::from)
        .collect();
    assert!(re_flags.len() > 20, "{help}");
    for f in re_flags {
        let known = ROWS.iter().any(|(r, _, _)| *r == f)
            || ONLY_WITH.iter().any(|(r, _)| *r == f)
            || ELSEWHERE.iter().any(|(e, _)| *e == f);
        assert!(
            known,
            "scaffold flag {f} is in neither ROWS nor ELSEWHERE of tests/flag_table.rs"
        );
    }
}
