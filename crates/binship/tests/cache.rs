//! The shared build cache (`[cache]` in the recipe) against a real registry (Debian's
//! docker-registry on 127.0.0.1): one store builds and publishes, a second store with its own
//! HOME and Go cache takes the same build from the cache without starting go; poisoned entries,
//! tampered through the registry API, are refused with one line naming registry, repo and digest.

mod common;
use common::engines::*;
use common::registry::*;
use common::*;

use std::path::PathBuf;

use binship_registry::{push, Blob, Puller, PushOptions, Reference};

/// A "machine": a project with go-id whose recipe names the cache, its own HOME, Go cache and
/// key dir, and a `go` on PATH that logs every start to `go.log` before running Debian's go.
struct Machine {
    p: Project,
    home: tempfile::TempDir,
    /// Runs binship inside this network namespace.
    netns: Option<String>,
}

impl Machine {
    fn new(cache: &str, extra: &str) -> Machine {
        let p = Project::new().with_example("go-id");
        let recipe = p.app_dir("go-id").join("binship.toml");
        let mut text = std::fs::read_to_string(&recipe).unwrap();
        text.push_str(&format!("\n[cache]\nregistry = \"{cache}\"\n{extra}"));
        std::fs::write(&recipe, text).unwrap();
        let home = tempfile::tempdir().unwrap();
        // A GOROOT of links whose bin/go is a logging wrapper: binship reads VERSION here, as it
        // would in Debian's /usr/lib/go-1.NN.
        let real = std::fs::canonicalize(which("go")).unwrap();
        let goroot = real.parent().unwrap().parent().unwrap();
        let fake = home.path().join("goroot");
        std::fs::create_dir_all(fake.join("bin")).unwrap();
        std::fs::copy(goroot.join("VERSION"), fake.join("VERSION")).unwrap();
        std::os::unix::fs::symlink(goroot.join("src"), fake.join("src")).unwrap();
        let log = home.path().join("go.log");
        let wrapper = fake.join("bin/go");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Machine {
            p,
            home,
            netns: None,
        }
    }

    /// In network namespace `ns`, with docker credentials `user:pass` for `registry`.
    fn in_netns(mut self, ns: &str, registry: &str, user_pass: &str) -> Machine {
        let dir = self.home.path().join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        docker_config(&dir, registry, user_pass);
        self.netns = Some(ns.to_string());
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// [`Machine::run`] with more environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let h = self.home.path();
        let path = format!(
            "{}:{}",
            h.join("goroot/bin").display(),
            std::env::var("PATH").unwrap()
        );
        let mut c = match &self.netns {
            None => self.p.cmd(args),
            Some(ns) => {
                let mut c = NetPair::cmd(ns, &bin());
                c.args(args)
                    .current_dir(self.p.path())
                    .env_remove("BINSHIP_STORE")
                    .env_remove("BINSHIP_CACHE")
                    .env_remove("CLICOLOR_FORCE")
                    .env_remove("CLICOLOR");
                c
            }
        };
        c.env("PATH", path)
            .env("DOCKER_CONFIG", h.join("docker"))
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("GOCACHE", self.go_cache())
            .env("GOPATH", h.join("gopath"))
            .envs(env.iter().copied())
            .output()
            .unwrap()
            .into()
    }

    /// Go's build cache: the machine's own (empty) in a network namespace, as a second machine
    /// has; else the test user's, warm from the other tests (these tests are about the
    /// registry, not about cold compiles).
    fn go_cache(&self) -> PathBuf {
        if self.netns.is_some() {
            return self.home.path().join("gocache");
        }
        std::env::var_os("GOCACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/go-build")
            })
    }

    /// The go commands started so far (and forgets them).
    fn go_runs(&self) -> String {
        let log = self.home.path().join("go.log");
        let s = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        s
    }

    fn binary(&self, v: u32) -> Vec<u8> {
        std::fs::read(self.p.version_dir("go-id", v).join("go-id")).unwrap()
    }

    fn edit_source(&self) {
        let main = self.p.path().join("examples/go-id/main.go");
        let s = std::fs::read_to_string(&main).unwrap();
        std::fs::write(&main, format!("{s}\n// one more line\n")).unwrap();
    }
}

fn which(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} not on PATH"))
}

fn setup() -> Option<(RegistryGuard, u16)> {
    if !require(&["docker-registry", "go"], false) {
        return None;
    }
    Some(plain_registry())
}

/// Two machines: network namespaces joined by a veth pair, each with its own store, HOME, Go
/// cache and docker credentials; the registry (token auth, its token server in this process)
/// listens in A's namespace and B reaches it over the link.
#[test]
fn a_second_machine_takes_the_build_from_the_cache_without_running_go() {
    if !require(&["docker-registry", "go", "openssl"], false) {
        return;
    }
    let Some(net) = NetPair::new() else { return };
    let Some(ts) = TokenServer::start_at(&format!("{}:0", NetPair::A_ADDR), Some(&net.a)) else {
        return;
    };
    let realm = format!("http://{}:{}/token", NetPair::A_ADDR, ts.port);
    let reg = NsRegistry::start(&net.a, NetPair::A_ADDR, &realm, &ts.cert());
    let host = format!("{}:{}", NetPair::A_ADDR, reg.port);
    let cache = format!("{host}/team/binship-cache");
    let a = Machine::new(&cache, "insecure = true\n").in_netns(&net.a, &host, "alice:s3cret");
    let b = Machine::new(&cache, "insecure = true\n").in_netns(&net.b, &host, "alice:s3cret");

    // A: a miss (one line says why), built here, published under its key.
    let r = a.run(&["build", "go-id", "--json"]).ok();
    let j = r.json();
    assert_eq!(j["status"], "built", "{r:?}");
    assert!(j["results"]["from_cache"].is_null());
    assert!(
        j["cache"]
            .as_str()
            .unwrap()
            .contains("has no entry for go-id"),
        "{j}"
    );
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");
    let key = j["results"]["cache_key"].as_str().unwrap().to_string();
    assert!(j["cache_publish"]["reference"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":cache-{key}")));
    assert!(a.go_runs().contains("build"), "A compiled with go");

    // B: the same source, a hit: no go process at all, the same bytes, "from cache".
    let r = b.run(&["build", "go-id"]).ok();
    assert!(
        r.stderr.contains(&format!("From cache: {cache}@sha256:")),
        "{r:?}"
    );
    assert!(r.stderr.contains("tests passed there"), "{r:?}");
    assert_eq!(b.go_runs(), "", "B started go");
    assert_eq!(b.binary(1), a.binary(1));
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.p.version_dir("go-id", 1).join("test-results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["version"], 1);
    assert_eq!(rec["cache_key"], key.as_str());
    let origin = rec["from_cache"]["reference"].as_str().unwrap();
    assert!(origin.starts_with(&format!("{cache}@sha256:")), "{origin}");
    assert_eq!(rec["from_cache"]["version"], 1);
    let readme = std::fs::read_to_string(b.p.version_dir("go-id", 1).join("README.md")).unwrap();
    assert!(readme.contains("from cache"), "{readme}");
    assert!(b
        .p
        .version_dir("go-id", 1)
        .join("test-results.origin.json")
        .is_file());
    // Again: up to date locally, nothing asked.
    let r = b.run(&["build", "go-id", "--json"]).ok();
    assert_eq!(r.json()["status"], "up_to_date");

    // B changes a line: built there and published; A, with the same change, takes it.
    b.edit_source();
    let j = b.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(j["version"], 2);
    assert!(j["results"]["from_cache"].is_null());
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");
    assert!(b.go_runs().contains("build"));
    a.edit_source();
    let j = a.run(&["build", "go-id", "--json"]).ok().json();
    assert_eq!(j["version"], 2);
    assert_eq!(j["status"], "built");
    assert_eq!(j["cache"], "hit");
    assert_eq!(j["results"]["from_cache"]["version"], 2);
    assert_eq!(a.go_runs(), "");
    assert_eq!(a.binary(2), b.binary(2));

    // --no-cache builds here; publishing the same key again leaves the entry alone.
    let j = a
        .run(&["build", "go-id", "3", "--no-cache", "--json"])
        .ok()
        .json();
    assert!(j["results"]["from_cache"].is_null());
    assert!(
        j.get("cache_publish").is_none() || j["cache_publish"].is_null(),
        "{j}"
    );
    assert!(a.go_runs().contains("build"));
    // Both machines got tokens from the realm, B over the link.
    let ev = ts.events();
    assert!(
        ev.iter()
            .any(|e| e.contains("repository:team/binship-cache:")),
        "{ev:?}"
    );
    assert!(
        reg.log().contains(NetPair::B_ADDR),
        "B never reached the registry"
    );
}

/// Rewrites the cache entry `tag` of `repo` through the registry API: `edit` gets the manifest
/// and the blobs by file name, and may change both.
fn tamper(
    port: u16,
    repo: &str,
    tag: &str,
    edit: impl FnOnce(&mut serde_json::Value, &mut std::collections::BTreeMap<String, Vec<u8>>),
) {
    let r = Reference::parse(&format!("127.0.0.1:{port}/{repo}:{tag}"), "latest").unwrap();
    let mut puller = Puller::open(&r, true, None).unwrap();
    let (bytes, _, _) = puller.manifest(tag).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for l in m["layers"].as_array().unwrap() {
        let name = l["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap()
            .to_string();
        let b = puller
            .blob_vec(l["digest"].as_str().unwrap(), l["size"].as_u64().unwrap())
            .unwrap();
        files.insert(name, b);
    }
    edit(&mut m, &mut files);
    // Layers follow the (possibly changed) files.
    for l in m["layers"].as_array_mut().unwrap() {
        let name = l["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap()
            .to_string();
        let b = &files[&name];
        l["digest"] = format!("sha256:{}", common::tiny::sha256_hex(b)).into();
        l["size"] = b.len().into();
    }
    let mut blobs: Vec<Blob> = files
        .values()
        .map(|b| Blob::from_bytes(b.clone()))
        .collect();
    blobs.push(Blob::from_bytes(b"{}".to_vec()));
    let bytes = serde_json::to_vec(&m).unwrap();
    push(
        &r,
        &bytes,
        "application/vnd.oci.image.manifest.v1+json",
        &blobs,
        &PushOptions {
            insecure: true,
            ..Default::default()
        },
    )
    .unwrap();
}

fn json_edit(b: &mut Vec<u8>, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
    f(&mut v);
    *b = serde_json::to_vec_pretty(&v).unwrap();
}

/// Builds on B with --cache-required: must fail with exit 8 and one line naming the registry,
/// repo and an entry digest, plus `why`, store no v.`v` and start no go.
fn assert_refused(b: &Machine, cache: &str, v: u32, why: &str) {
    let r = b.run(&["build", "go-id", "--cache-required"]);
    assert_eq!(r.code, 8, "{r:?}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or_else(|| panic!("no refusal line: {r:?}"));
    assert!(line.contains(&format!("refused {cache}@sha256:")), "{line}");
    assert!(line.contains(why), "{line} (want {why})");
    assert!(
        !b.p.version_dir("go-id", v).exists(),
        "a refused entry was stored"
    );
    assert_eq!(b.go_runs(), "", "--cache-required started go");
}

#[test]
fn poisoned_entries_are_refused_and_a_plain_build_falls_back_to_building_here() {
    let Some((_reg, port)) = setup() else { return };
    let repo = "team/poison";
    let cache = format!("127.0.0.1:{port}/{repo}");
    let a = Machine::new(&cache, "");
    let j = a.run(&["build", "go-id", "--json"]).ok().json();
    let key = j["results"]["cache_key"].as_str().unwrap().to_string();
    let tag = format!("cache-{key}");
    let b = Machine::new(&cache, "");

    // The binary is not the one its record names.
    tamper(port, repo, &tag, |_, f| {
        f.insert("go-id".into(), b"\x7fELF not the tested binary".to_vec());
    });
    assert_refused(&b, &cache, 1, "binary go-id has digest");
    // A plain build says why and builds here.
    let r = b.run(&["build", "go-id", "--json"]).ok();
    let j = r.json();
    assert!(
        j["cache"]
            .as_str()
            .unwrap()
            .contains("binary go-id has digest"),
        "{j}"
    );
    assert!(j["results"]["from_cache"].is_null());
    // (its publish found the poisoned entry under the key and left it: a race notice)
    assert_eq!(j["cache_publish"]["status"], "raced", "{j}");
    assert!(b.go_runs().contains("build"));
    std::fs::remove_dir_all(b.p.app_dir("go-id").join("go-id-binary-v.1")).unwrap();

    // A consistent entry (the record names the new bytes) whose binary is a script.
    let script = b"#!/bin/sh\necho go-id 1\n".to_vec();
    let sha = common::tiny::sha256_hex(&script);
    tamper(port, repo, &tag, |_, f| {
        f.insert("go-id".into(), script.clone());
        json_edit(f.get_mut("test-results.json").unwrap(), |v| {
            v["binary"]["sha256"] = sha.clone().into();
            v["binary"]["size"] = script.len().into();
        });
    });
    assert_refused(&b, &cache, 1, "go-id: ");

    // Put A's entry back, then: tests recorded as failed.
    let good = a.binary(1);
    let good_sha = common::tiny::sha256_hex(&good);
    tamper(port, repo, &tag, |_, f| {
        f.insert("go-id".into(), good.clone());
        json_edit(f.get_mut("test-results.json").unwrap(), |v| {
            v["binary"]["sha256"] = good_sha.clone().into();
            v["binary"]["size"] = good.len().into();
            v["status"] = "failed".into();
            v["passed"] = 4.into();
            v["failed"] = 1.into();
        });
    });
    assert_refused(&b, &cache, 1, "recorded tests did not pass");

    // The key annotation does not match the tag.
    tamper(port, repo, &tag, |m, f| {
        json_edit(f.get_mut("test-results.json").unwrap(), |v| {
            v["status"] = "passed".into();
            v["passed"] = 5.into();
            v["failed"] = 0.into();
        });
        m["annotations"]["dev.binship.cache-key"] = "0".repeat(64).into();
    });
    assert_refused(&b, &cache, 1, "dev.binship.cache-key annotation");

    // Restored: B's update takes it (no build slot, no go).
    tamper(port, repo, &tag, |m, _| {
        m["annotations"]["dev.binship.cache-key"] = key.clone().into();
    });
    let j = b.run(&["update", "go-id", "--json"]).ok().json();
    assert_eq!(j["apps"][0]["cache"], "hit", "{j}");
    assert_eq!(j["apps"][0]["status"], "updated", "{j}");
    assert_eq!(b.go_runs(), "");
    assert_eq!(b.binary(1), a.binary(1));

    // The key holds what the build embeds and the environment go reads: go-id stamps its
    // version number (-X main.version={version}), so v.5 is another key; GOAMD64 is another.
    let j = b.run(&["build", "go-id", "5", "--json"]).ok().json();
    assert!(j["cache"].as_str().unwrap().contains("has no entry"), "{j}");
    assert_ne!(j["results"]["cache_key"], key.as_str());
    let j = b
        .run_env(&["build", "go-id", "--json"], &[("GOAMD64", "v1")])
        .ok()
        .json();
    assert_eq!(j["version"], 6, "{j}");
    assert!(j["cache"].as_str().unwrap().contains("has no entry"), "{j}");
}

#[test]
fn require_signed_takes_only_entries_signed_by_the_trusted_key() {
    if !require(&["minisign"], false) {
        return;
    }
    let Some((_reg, port)) = setup() else { return };
    let cache = format!("127.0.0.1:{port}/team/signed");
    // A signs with its key; B trusts A's public key (copied), C trusts another key.
    let a = Machine::new(&cache, "");
    a.run(&["key", "generate"]).ok();
    let a_pub: PathBuf = a.home.path().join("config/binship/binship.pub");
    let j = a.run(&["build", "go-id", "--sign", "--json"]).ok().json();
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");
    let b = Machine::new(
        &cache,
        &format!(
            "require_signed = true\npublic_key = \"{}\"\n",
            a_pub.display()
        ),
    );
    let r = b
        .run(&["build", "go-id", "--cache-required", "--json"])
        .ok();
    assert_eq!(r.json()["cache"], "hit", "{r:?}");
    assert_eq!(b.go_runs(), "");
    // B's stored copy verifies with A's key: the signed record is the builder's, renumbered.
    let j = b
        .run(&[
            "verify",
            "go-id",
            "--pub",
            a_pub.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["status"], "verified", "{j}");

    let c = Machine::new(&cache, "require_signed = true\n");
    c.run(&["key", "generate"]).ok();
    assert_refused(&c, &cache, 1, "require_signed:");

    // An unsigned entry (A builds a change without --sign) is refused by B.
    a.edit_source();
    b.edit_source();
    a.run(&["build", "go-id"]).ok();
    assert_refused(
        &b,
        &cache,
        2,
        "require_signed: the entry has no signature for go-id",
    );
    // A signs it later: its next build (up to date) publishes again, the signed entry
    // replacing the unsigned one with the same binary; B takes it.
    let j = a.run(&["build", "go-id", "--sign", "--json"]).ok().json();
    assert_eq!(j["status"], "up_to_date", "{j}");
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");
    let j = b
        .run(&["build", "go-id", "--cache-required", "--json"])
        .ok()
        .json();
    assert_eq!(j["cache"], "hit", "{j}");
    // B signs its copy with its own key: it then verifies as a version of B's.
    b.run(&["key", "generate"]).ok();
    b.run(&["sign", "go-id"]).ok();
    let j = b.run(&["verify", "go-id", "--json"]).ok().json();
    assert_eq!(j["status"], "verified", "{j}");
}

#[test]
fn a_bad_cache_setting_or_a_down_registry_is_a_clear_line() {
    if !require(&["go"], false) {
        return;
    }
    let port = free_port();
    let m = Machine::new(&format!("127.0.0.1:{port}/team/cache"), "");
    // Nobody listens: the build happens here, with one line naming the registry.
    let r = m.run(&["build", "go-id", "--json"]).ok();
    let j = r.json();
    assert!(
        j["cache"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}/team/cache")),
        "{j}"
    );
    assert_eq!(j["cache_publish"]["status"], "failed", "{j}");
    // --cache-required: exit 1, nothing stored.
    m.edit_source();
    let r = m.run(&["build", "go-id", "--cache-required"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("cache: 127.0.0.1:{port}/team/cache")),
        "{r:?}"
    );
    assert!(!m.p.version_dir("go-id", 2).exists());
    // A registry that takes the connection and never answers: each attempt ends after
    // $BINSHIP_REGISTRY_TIMEOUT seconds, and the build goes on here.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let r = m.run_env(
        &["build", "go-id", "--json"],
        &[
            (
                "BINSHIP_CACHE",
                &format!("127.0.0.1:{silent_port}/team/cache"),
            ),
            ("BINSHIP_REGISTRY_TIMEOUT", "1"),
        ],
    );
    let j = r.ok().json();
    assert_eq!(j["status"], "built", "{j}");
    assert!(j["cache"].as_str().unwrap().contains("timed out"), "{j}");
    drop(silent);
    m.edit_source();
    let r = m.run_env(
        &["build", "go-id", "--cache-required"],
        &[("BINSHIP_REGISTRY_TIMEOUT", "soon")],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("$BINSHIP_REGISTRY_TIMEOUT: `soon`"),
        "{r:?}"
    );
    // A tag in the setting: usage, naming the variable.
    let r =
        m.p.cmd(&["build", "go-id", "--cache-required"])
            .env("BINSHIP_CACHE", "127.0.0.1:5000/x:v1")
            .output()
            .unwrap();
    let r: Run = r.into();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("$BINSHIP_CACHE"), "{r:?}");
    // --cache-required without any cache: usage.
    let p = Project::new().with_example("go-id");
    let r = p.run(&["build", "go-id", "--cache-required"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no shared cache"), "{r:?}");
}

/// `tiny` with its recipe naming `cache`, and a file `note` in its source (another note,
/// another source and key; the ELF itself is the build's output name, outside the key).
fn tiny_with_cache(cache: &str, note: &[u8]) -> Project {
    let p = common::tiny::tiny_app(&format!("[cache]\nregistry = \"{cache}\"\n"));
    std::fs::write(p.path().join("src/tiny/note"), note).unwrap();
    p
}

#[test]
fn gc_cache_removes_only_old_entries_no_local_version_names() {
    if !require(&["docker-registry"], false) {
        return;
    }
    let (_reg, port) = plain_registry_with(true);
    let cache = format!("127.0.0.1:{port}/team/gc");
    // Here: v.1 (key 1); elsewhere: another source (key 2).
    let here = tiny_with_cache(&cache, b"");
    let j = here.run(&["build", "tiny", "--json"]).ok().json();
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");
    let mine = format!("cache-{}", j["results"]["cache_key"].as_str().unwrap());
    let there = tiny_with_cache(&cache, b"\0");
    let j = there.run(&["build", "tiny", "--json"]).ok().json();
    let theirs = format!("cache-{}", j["results"]["cache_key"].as_str().unwrap());
    assert_ne!(mine, theirs);
    let tags = |p: &Project| -> Vec<String> {
        let j = p.run(&["list", "--remote", &cache, "--json"]).ok().json();
        serde_json::from_value(j["tags"].clone()).unwrap()
    };

    // Young entries stay (default --older-than 7d).
    let j = here.run(&["gc", "--cache", "--json"]).ok().json();
    assert_eq!(j["status"], "dry_run");
    let entries = &j["caches"][0]["entries"];
    assert_eq!(entries.as_array().unwrap().len(), 2, "{j}");
    assert!(
        j["caches"][0]["removed"].as_array().unwrap().is_empty(),
        "{j}"
    );
    // Any age: theirs would go, mine stays (a local version has its key); a dry run.
    let r = here.run(&["gc", "--cache", "--older-than", "0s"]).ok();
    assert!(
        r.stdout
            .contains(&format!("keep   tiny {mine} (tiny v.1 here has its key)")),
        "{r:?}"
    );
    assert!(r.stdout.contains(&format!("remove tiny {theirs}")), "{r:?}");
    assert!(r.stderr.contains("dry run"), "{r:?}");
    assert_eq!(tags(&here).len(), 2);
    // Listed a page at a time (distribution's Link: rel="next"), the same two.
    let repo = Reference::parse(&format!("{cache}:x"), "latest").unwrap();
    let mut paged = Puller::open(&repo, true, None)
        .unwrap()
        .tags_paged(Some(1))
        .unwrap();
    paged.sort();
    let mut want = vec![mine.clone(), theirs.clone()];
    want.sort();
    assert_eq!(paged, want);
    // --apply: gone from the registry; their next build is a miss and builds there.
    let j = here
        .run(&["gc", "--cache", "--older-than", "0s", "--apply", "--json"])
        .ok()
        .json();
    assert_eq!(
        j["caches"][0]["removed"].as_array().unwrap().len(),
        1,
        "{j}"
    );
    assert_eq!(tags(&here), [mine]);
    std::fs::remove_dir_all(there.version_dir("tiny", 1)).unwrap();
    let j = there.run(&["build", "tiny", "--json"]).ok().json();
    assert!(j["cache"].as_str().unwrap().contains("has no entry"), "{j}");
    assert_eq!(j["cache_publish"]["status"], "pushed", "{j}");

    // Not touched: a tag named like an entry on something else, and an entry whose manifest
    // another tag (a release someone made of it) also names.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let plain = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", common::tiny::sha256_hex(config)),
            "size": config.len(),
        },
        "layers": [],
    });
    let opts = PushOptions {
        insecure: true,
        ..Default::default()
    };
    let to = |tag: &str| Reference::parse(&format!("{cache}:{tag}"), "latest").unwrap();
    push(
        &to("cache-notmine"),
        &serde_json::to_vec(&plain).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
        &[Blob::from_bytes(config.to_vec())],
        &opts,
    )
    .unwrap();
    let (bytes, media, _) = Puller::open(&to(&theirs), true, None)
        .unwrap()
        .manifest(&theirs)
        .unwrap();
    push(&to("release"), &bytes, &media, &[], &opts).unwrap();
    let j = here
        .run(&["gc", "--cache", "--older-than", "0s", "--apply", "--json"])
        .ok()
        .json();
    assert!(
        j["caches"][0]["removed"].as_array().unwrap().is_empty(),
        "{j}"
    );
    let entries = j["caches"][0]["entries"].as_array().unwrap();
    assert!(!entries.iter().any(|e| e["tag"] == "cache-notmine"), "{j}");
    let kept = entries
        .iter()
        .find(|e| e["tag"] == theirs.as_str())
        .unwrap();
    assert!(
        kept["kept"]
            .as_str()
            .unwrap()
            .contains("also tagged release"),
        "{j}"
    );
    assert_eq!(tags(&here).len(), 4);

    // Bad ages are usage errors.
    let r = here.run(&["gc", "--cache", "--older-than", "soon"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--older-than: `soon`"), "{r:?}");
    let r = here.run(&["gc", "--cache", "--older-than", "999999999999999d"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("more than 100 years"), "{r:?}");
    assert_eq!(here.run(&["gc", "--older-than", "1d"]).code, 2);
}

#[test]
fn gc_cache_on_a_registry_without_deletes_is_one_clear_line() {
    if !require(&["docker-registry"], false) {
        return;
    }
    let (_reg, port) = plain_registry();
    let cache = format!("127.0.0.1:{port}/team/nodelete");
    let there = tiny_with_cache(&cache, b"\0");
    there.run(&["build", "tiny"]).ok();
    let here = tiny_with_cache(&cache, b"");
    let r = here.run(&["gc", "--cache", "--older-than", "0s", "--apply"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("storage.delete.enabled"), "{r:?}");
    assert_eq!(r.stderr.trim().lines().count(), 1, "{r:?}");
}
