//! Renders a version's `README.md` from its [`TestResults`]: what it is, when and from which
//! commit it was built, size, sha256, tests, and how to scaffold it.

use crate::TestResults;

/// Human-readable size: "6.1 MB" (decimal, as the seed writes it).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

pub fn render(r: &TestResults) -> String {
    let commit = match &r.git.commit {
        Some(c) => format!(
            "{c}{}",
            if r.git.dirty {
                " (with uncommitted changes)"
            } else {
                " (clean)"
            }
        ),
        None => "not in git (content-hashed source)".into(),
    };
    let mut s = format!(
        "# {app} v.{v}\n\n\
         A {kind} binary for {target}, built and tested by {by}.\n\n\
         | | |\n|---|---|\n\
         | binary | `{name}` |\n\
         | built at | {at} |\n\
         | commit | {commit} |\n\
         | toolchain | {tc} {tcv} |\n\
         | size | {size} ({bytes} bytes) |\n\
         | sha256 | `{sha}` |\n\
         | static | {stat} |\n\
         | tests | {p}/{t} {status} |\n{origin}\n\
         ## Tests\n\n| test | result | ms | error |\n|---|---|---:|---|\n",
        app = r.app,
        v = r.version,
        kind = r.kind,
        target = r.target,
        by = r.built_by,
        name = r.binary.name,
        at = r.built_at,
        tc = r.toolchain.name,
        tcv = r.toolchain.version,
        size = human_size(r.binary.size),
        bytes = r.binary.size,
        sha = r.binary.sha256,
        stat = if r.binary.is_static { "yes" } else { "no" },
        p = r.passed,
        t = r.total,
        status = r.status,
        origin = match &r.from_cache {
            Some(c) => format!(
                "| from cache | {} (v.{} there), built on {} at {}, tests passed there |\n",
                c.reference,
                c.version,
                r.built_on.as_deref().unwrap_or("an unnamed host"),
                r.built_at
            ),
            None => String::new(),
        },
    );
    for t in &r.tests {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            t.name,
            if t.passed { "pass" } else { "FAIL" },
            t.duration_ms,
            t.error.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    if !r.warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in &r.warnings {
            s.push_str(&format!("- {w}\n"));
        }
    }
    s.push_str(&format!(
        "\n## Use it\n\n```\n./{name} --help\nbinship scaffold {app} --version {v}\n```\n\n\
         `test-results.json` beside this file has the same facts for scripts (schema {schema}).\n",
        name = r.binary.name,
        app = r.app,
        v = r.version,
        schema = r.schema_version,
    ));
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_the_seed() {
        assert_eq!(super::human_size(6_100_000), "6.1 MB");
        assert_eq!(super::human_size(999), "999 B");
    }
}
