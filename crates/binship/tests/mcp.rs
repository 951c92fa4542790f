//! `binship mcp` driven end to end by a real MCP client: the official Python SDK (`mcp` from
//! PyPI, installed by scripts/test.sh into a venv) lists the tools, builds the example with
//! progress notifications, scaffolds it, and sends bad arguments that must not break the server.

mod common;
use common::engines::*;
use common::*;

fn python() -> String {
    std::env::var("BINSHIP_MCP_PYTHON")
        .unwrap_or_else(|_| "/var/cache/binship-tests/mcp-venv/bin/python".into())
}

#[test]
fn an_mcp_client_lists_builds_and_scaffolds_over_stdio() {
    let py = python();
    if !require(&[py.as_str()], false) {
        return;
    }
    let p = Project::new().with_example("go-id");
    let client = repo_root().join("crates/binship/tests/mcp/client.py");
    let out = std::process::Command::new(&py)
        .arg(&client)
        .arg(bin())
        .arg(p.path())
        .env_remove("BINSHIP_STORE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(r["server"], "binship");
    // The tools are the one table the server and the CLI share, each answering like a command.
    let mut names: Vec<&str> = binship_mcp::TOOLS.iter().map(|t| t.0).collect();
    names.sort();
    assert_eq!(names.len(), 12);
    let tools = serde_json::json!(names);
    for (_, command) in binship_mcp::TOOLS {
        p.run(&[command, "--help"]).ok();
    }
    assert_eq!(r["tools"], tools);
    assert_eq!(
        r["output_schemas"], tools,
        "every tool declares its output schema"
    );
    // Structured answers are the CLI's --json documents.
    assert_eq!(
        r["list_before"]["structured"]["result"]["apps"][0]["versions"],
        serde_json::json!([])
    );
    let b = &r["build"]["structured"];
    assert_eq!(b["status"], "ok", "{b}");
    assert_eq!(b["result"]["status"], "built");
    assert_eq!(b["result"]["results"]["passed"], 5);
    assert!(p.version_dir("go-id", 1).join("go-id").is_file());
    let progress: Vec<&str> = r["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(
        progress
            .first()
            .is_some_and(|m| m.contains("build started")),
        "{progress:?}"
    );
    assert!(
        progress
            .last()
            .is_some_and(|m| m.contains("build finished")),
        "{progress:?}"
    );
    let s = &r["scaffold"]["structured"]["result"];
    assert_eq!(
        (s["type"].as_str(), s["format"].as_str()),
        (Some("oci"), Some("oci")),
        "{s}"
    );
    assert!(p.path().join("out-oci/index.json").is_file());
    assert_eq!(
        r["list_after"]["structured"]["result"]["apps"][0]["versions"][0]["version"],
        1
    );
    // Every other tool, called once: the answer and exit code the CLI gives.
    let ok = |k: &str| {
        let t = &r[k]["structured"];
        assert_eq!(
            (t["status"].as_str(), &t["exit_code"]),
            (Some("ok"), &serde_json::json!(0)),
            "{k}: {t}"
        );
        t["result"].clone()
    };
    let err = |k: &str, code: i32, class: &str| {
        let t = &r[k];
        assert_eq!(t["is_error"], true, "{k}: {t}");
        assert_eq!(t["structured"]["exit_code"], code, "{k}: {t}");
        assert_eq!(t["structured"]["result"]["error"], class, "{k}: {t}");
    };
    assert_eq!(
        ok("inspect")["images"][0]["tests"],
        "5/5 passed",
        "{}",
        r["inspect"]
    );
    // An unsigned version does not verify (exit 8), with every check in the answer.
    assert_eq!(r["verify"]["structured"]["exit_code"], 8, "{}", r["verify"]);
    assert_eq!(r["verify"]["structured"]["result"]["status"], "failed");
    let pr = ok("promote");
    assert_eq!(
        (pr["status"].as_str(), &pr["current"]),
        (Some("promoted"), &serde_json::json!(1))
    );
    err("promote_missing", 3, "not_found");
    let h = ok("history");
    assert_eq!(h["current"], 1);
    assert_eq!(h["history"][0]["action"], "promote");
    let g = ok("gc");
    assert_eq!(g["status"], "dry_run");
    assert_eq!(g["apps"][0]["kept"][0]["why"], "current");
    err("rollback", 3, "not_found");
    assert_eq!(ok("list_current")["apps"][0]["current"], 1);
    err("push", 2, "usage");
    err("sign", 2, "usage");
    err("deploy", 2, "usage");
    let m = r["deploy"]["structured"]["result"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(m.contains("nowhere"), "the CLI's error line: {m}");
    // A failed command: a tool error that still carries the CLI's JSON and exit code.
    let nf = &r["not_found"];
    assert_eq!(nf["is_error"], true);
    assert_eq!(nf["structured"]["exit_code"], 3);
    assert_eq!(nf["structured"]["result"]["error"], "not_found");
    // Missing or wrong-typed arguments are errors naming the problem; an unknown tool is a
    // JSON-RPC error; the server keeps serving.
    let bad = &r["bad_arguments"];
    let rpc = |k: &str| {
        bad[k]["jsonrpc_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(rpc("build {}").contains("missing field `app`"), "{bad}");
    assert!(
        rpc("build {\"app\": 5}").contains("invalid type: integer `5`"),
        "{bad}"
    );
    assert!(
        rpc("scaffold {\"app\": \"go-id\", \"version\": \"two\"}").contains("expected u32"),
        "{bad}"
    );
    // An argument the tool does not take is refused, not ignored.
    assert!(
        rpc("scaffold {\"app\": \"go-id\", \"tag\": \"x:y\"}").contains("unknown field `tag`"),
        "{bad}"
    );
    assert_eq!(
        r["build_required"],
        serde_json::json!(["app"]),
        "the input schema says so too"
    );
    assert!(
        bad["no_such_tool"]["jsonrpc_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{bad}"
    );
    assert_eq!(r["alive"], true);
    // stdout was the protocol only: the CLI's logs went to stderr.
    // (the scaffold's notice reached the client's stderr through the server's stderr)
    assert!(stderr.contains("auto-selected v.1"), "{stderr}");
    assert!(!stderr.contains("\"jsonrpc\""), "{stderr}");
}
