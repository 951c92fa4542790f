//! Colour on a terminal (issue 20, item 18): ✓ lines green, `list` marks the current version
//! and each version's test counts in colour; NO_COLOR, CLICOLOR=0 and a pipe give plain text,
//! CLICOLOR_FORCE colours a pipe too (console's rules).

mod common;
use common::tiny::tiny_project;

const ESC: &str = "\x1b[";

#[test]
fn colour_follows_the_terminal_no_color_and_clicolor_force() {
    let p = tiny_project();
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut c = p.cmd(args);
        c.env_remove("NO_COLOR");
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(&[], &["promote", "tiny", "1"]);
    // A pipe: plain.
    let plain = run(&[], &["list"]);
    assert!(!plain.contains(ESC), "{plain:?}");
    assert!(plain.contains("v.1"), "{plain}");
    // Forced: the current version bold green with its marker, the passing tests green.
    let forced = run(&[("CLICOLOR_FORCE", "1")], &["list"]);
    assert!(forced.contains(&format!("{ESC}32m")), "{forced:?}");
    assert!(
        forced.contains(&format!("{ESC}32m{ESC}1m    v.1"))
            && forced.contains(&format!("{ESC}1m*")),
        "{forced:?}"
    );
    let stripped = console::strip_ansi_codes(&forced);
    assert_eq!(
        stripped.trim_end(),
        plain.trim_end(),
        "the same table, coloured"
    );
    // ✓ lines are green when forced, plain otherwise.
    let built = run(&[("CLICOLOR_FORCE", "1")], &["build", "tiny", "--force"]);
    assert!(built.contains(&format!("{ESC}32m✓")), "{built:?}");
    let built = run(&[], &["build", "tiny", "--force"]);
    assert!(built.contains("✓ ") && !built.contains(ESC), "{built:?}");
    // NO_COLOR and CLICOLOR=0 win over a terminal; CLICOLOR_FORCE wins over both.
    let none = run(&[("NO_COLOR", "1"), ("CLICOLOR", "0")], &["list"]);
    assert!(!none.contains(ESC), "{none:?}");
}
