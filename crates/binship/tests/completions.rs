//! Shell completions and man pages come from the clap definitions (issue 21, item 5): the
//! bash script, sourced in a real bash, completes commands and `--format` values; the man
//! pages committed in docs/man are the ones `binship man` writes now.

mod common;
use common::*;

/// What bash's completion function offers for the words of `line` (the last is being typed).
fn complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; _binship binship '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len().saturating_sub(2)],
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_commands_and_format_values() {
    let p = Project::new();
    let r = p.run(&["completions", "bash"]).ok();
    let script = p.path().join("binship.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    assert_eq!(complete(&script, &["binship", "sca"]), ["scaffold"]);
    let formats = complete(&script, &["binship", "scaffold", "go-id", "--format", ""]);
    assert_eq!(
        formats,
        ["docker-archive", "oci", "oci-archive", "lxc", "incus"],
        "{formats:?}"
    );
    // zsh and fish get theirs too; an unknown shell is refused by clap.
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert!(
            !p.run(&["completions", shell]).ok().stdout.is_empty(),
            "{shell}"
        );
    }
    assert_eq!(p.run(&["completions", "tcsh"]).code, 2);
    // An unknown format: clap names the ones there are.
    let r = p.run(&["scaffold", "x", "--format", "qcow2"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("[possible values: docker-archive, oci, oci-archive, lxc, incus]"),
        "{r:?}"
    );
}

#[test]
fn the_committed_man_pages_are_current() {
    let p = Project::new();
    let dir = p.path().join("man");
    let r = p.run(&["man", dir.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("man pages in"), "{r:?}");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&dir),
        names(&committed),
        "docs/man is stale: run `binship man docs/man`"
    );
    for n in names(&dir) {
        assert!(
            std::fs::read(dir.join(&n)).unwrap() == std::fs::read(committed.join(&n)).unwrap(),
            "docs/man/{n} is stale: run `binship man docs/man`"
        );
    }
    // Every command has its page, scaffold's lists its flags.
    let scaffold = std::fs::read_to_string(dir.join("binship-scaffold.1")).unwrap();
    assert!(scaffold.contains("image\\-test\\-engine"), "{scaffold}");
}

/// Issue 20, item 16: the top-level help groups every command under a heading, one short line
/// each; every argument and option of every command has help; `--format` errors give a tip
/// as `--type` errors do, also for words users try (`tar`).
#[test]
fn help_groups_the_commands_and_every_argument_has_help() {
    let p = Project::new();
    let top = p.run(&["--help"]).ok().stdout;
    let commands = p.run(&["completions", "bash"]).ok().stdout;
    // The command names bash completes at the top level: every one is listed once.
    let names: Vec<String> = commands
        .lines()
        .find(|l| l.contains("opts=\"") && l.contains("scaffold") && l.contains("pull-binary"))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .filter(|w| !w.starts_with('-') && *w != "help")
        .map(String::from)
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    let headings: Vec<&str> = top
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with(' '))
        .collect();
    for h in [
        "Build:",
        "Images:",
        "Registry:",
        "Lifecycle:",
        "Supply chain:",
        "Agents and shells:",
    ] {
        assert!(headings.contains(&h), "{h} in {top}");
    }
    for n in &names {
        let lines: Vec<&str> = top
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(n.as_str()) && l.starts_with("  "))
            .collect();
        assert_eq!(lines.len(), 1, "{n}: {top}");
        assert!(lines[0].len() <= 80, "{:?}", lines[0]);
        // Each command's own help: every argument and option says something.
        let help = p.run(&[n, "--help"]).ok().stdout;
        let mut in_args = false;
        let mut last: Option<String> = None;
        for l in help.lines() {
            if l == "Arguments:" || l == "Options:" {
                in_args = true;
                continue;
            }
            if !in_args {
                continue;
            }
            let t = l.trim();
            // An option or argument starts at column 2 (`  -s, --x`, `  <APP>`) or 6
            // (`      --x`); wrapped help lines are indented further.
            let indent = l.len() - l.trim_start().len();
            if (indent == 2 || indent == 6) && (t.starts_with('-') || t.starts_with('<')) {
                if let Some(prev) = last.take() {
                    panic!("{n}: `{prev}` has no help:\n{help}");
                }
                // A short help sits on the same line after two spaces; a long one below.
                let head = t.split("  ").next().unwrap_or(t);
                if head.len() == t.len() {
                    last = Some(t.to_string());
                }
            } else if !t.is_empty() {
                last = None;
            }
        }
        assert!(last.is_none(), "{n}: `{last:?}` has no help:\n{help}");
    }
    let r = p.run(&["scaffold", "x", "--format", "tar"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("tip: some similar values exist: 'docker-archive', 'oci-archive'"),
        "{r:?}"
    );
    let r = p.run(&["scaffold", "x", "--format", "dockr-archive"]);
    assert!(
        r.stderr
            .contains("tip: a similar value exists: 'docker-archive'"),
        "{r:?}"
    );
}
