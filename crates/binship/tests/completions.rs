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
