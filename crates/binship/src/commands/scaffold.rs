//! `binship scaffold <app>`: the seed's decision tree (no binary -> build first; one version ->
//! auto; several -> prompt on a terminal, else latest), then pack and write the image.

use std::io::IsTerminal;

use binship_build::Cancel;
use binship_image::Compression;
use binship_pipeline::scaffold::{scaffold, Overrides, ScaffoldOutcome, ScaffoldRequest};
use binship_pipeline::{BuildRequest, ErrorClass};
use binship_registry::Reference;
use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::json;

use crate::cli::ScaffoldArgs;
use crate::commands::build::parse_version;
use crate::exit;
use crate::output::{display_path, error};
use crate::progress::Spinner;

/// Binaries at least this large get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

fn interactive() -> bool {
    std::io::stdin().is_terminal() && console::Term::stderr().is_term()
}

/// What the scaffold answer says besides the outcome: the type, how the version was chosen
/// (flag, only, prompt, current, latest) and the versions there were.
type Answer<'a> = (Option<&'a str>, &'a str, &'a [u32]);

/// The seed's container types.
pub const TYPES: [&str; 6] = [
    "docker",
    "podman",
    "oci",
    "lxc-alpine",
    "lxc-debian",
    "incus",
];

/// A type's format, base key (in the recipe's container.bases) and service defaults.
fn type_defaults(t: &str) -> (&'static str, Option<&'static str>, Option<&'static str>) {
    match t {
        "podman" => ("oci-archive", None, None),
        "oci" => ("oci", None, None),
        "lxc-alpine" => ("lxc", Some("alpine"), Some("openrc")),
        "lxc-debian" => ("lxc", Some("debian"), Some("systemd")),
        "incus" => ("incus", Some("debian"), None),
        _ => ("docker-archive", None, None),
    }
}

/// Fills in format, base and service from --type (or the prompt / the recipe's default type).
fn resolve_type(
    store: &Store,
    a: &mut ScaffoldArgs,
    prompt: bool,
) -> Result<Option<String>, String> {
    let recipe = binship_recipe::Recipe::load(&store.recipe_path(&a.app)).ok();
    let default = recipe
        .as_ref()
        .and_then(|r| r.container.default_type.clone())
        .unwrap_or_else(|| "docker".into());
    let ty = match (&a.container_type, &a.format_arg) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(_)) => None,
        (None, None) if prompt => {
            let at = TYPES.iter().position(|t| *t == default).unwrap_or(0);
            let i = dialoguer::Select::new()
                .with_prompt("Container type?")
                .items(TYPES)
                .default(at)
                .interact()
                .map_err(|e| e.to_string())?;
            Some(TYPES[i].to_string())
        }
        (None, None) => Some(default),
    };
    let (format, base_key, service) =
        ty.as_deref()
            .map(type_defaults)
            .unwrap_or(("docker-archive", None, None));
    a.format = a.format_arg.clone().unwrap_or_else(|| format.into());
    if a.base.is_none() {
        if let Some(key) = base_key {
            let bases = recipe
                .as_ref()
                .map(|r| r.container.bases.clone())
                .unwrap_or_default();
            let base = bases.get(key).or_else(|| {
                if ty.as_deref() == Some("incus") {
                    bases.get("alpine")
                } else {
                    None
                }
            });
            match base {
                Some(b) => a.base = Some(b.clone()),
                None => {
                    return Err(format!(
                        "type {} needs the {key} base: set container.bases.{key} = \"rootfs:...\" in {}, or pass --base",
                        ty.as_deref().unwrap_or(""),
                        store.recipe_path(&a.app).display()
                    ))
                }
            }
        }
    }
    if a.service.is_none() {
        a.service = service.map(String::from);
    }
    Ok(ty)
}

pub fn run(store: &Store, json_mode: bool, a: &ScaffoldArgs) -> i32 {
    let fail = |class: ErrorClass, m: &str| {
        error(json_mode, exit::name(class), m, json!({}));
        exit::code(class)
    };
    // The seed asks "Container type?" after the version (step 3): on a terminal with neither
    // --type nor --format, the defaults stand in until then.
    let original = a.clone();
    let ask_type =
        a.container_type.is_none() && a.format_arg.is_none() && interactive() && !json_mode;
    let mut resolved = a.clone();
    let mut container_type = match resolve_type(store, &mut resolved, false) {
        Ok(t) => t,
        Err(m) => return fail(ErrorClass::Usage, &m),
    };
    let a = &resolved;
    if let Err(m) = binship_recipe::validate_app_name(&a.app) {
        return fail(ErrorClass::Usage, &m);
    }
    let requested = match a.version.as_deref().map(parse_version).transpose() {
        Ok(v) => v,
        Err(m) => return fail(ErrorClass::Usage, &m),
    };
    let system_format = matches!(a.format.as_str(), "lxc" | "incus");
    // Flags that would do nothing here are refused, not ignored.
    let unused = if a.split && a.format != "incus" {
        Some(format!(
            "--split is for --format incus (its two-file form), not {}",
            a.format
        ))
    } else if a.alias.is_some() && !system_format {
        Some(format!(
            "--alias names an LXC/Incus image; --format {} takes --tag",
            a.format
        ))
    } else if a.level.is_some() && a.compress.as_deref() == Some("none") {
        Some("--level has nothing to set with --compress none".into())
    } else {
        None
    };
    if let Some(m) = unused {
        return fail(ErrorClass::Usage, &m);
    }
    let compression = match (a.compress.as_deref(), a.format.as_str()) {
        // System formats: xz (the default; --level is its preset) or, for Incus, zstd.
        (None | Some("xz"), "lxc" | "incus") => None,
        (Some("zstd"), "incus") => match Compression::parse("zstd", a.level) {
            Ok(c) => Some(c),
            Err(m) => return fail(ErrorClass::Usage, &m),
        },
        (Some(c), "lxc") => {
            return fail(
                ErrorClass::Usage,
                &format!(
                "--format lxc writes xz (lxc-create's local template reads nothing else), not {c}"
            ),
            )
        }
        (Some(c), "incus") => {
            return fail(
                ErrorClass::Usage,
                &format!("--format incus takes --compress xz (default) or zstd, not {c}"),
            )
        }
        (Some(c), _) => match Compression::parse(c, a.level) {
            Ok(c) => Some(c),
            Err(m) => return fail(ErrorClass::Usage, &m),
        },
        (None, _) if a.level.is_some() && !system_format => {
            return fail(
                ErrorClass::Usage,
                "--level needs --compress gzip or zstd (or --format lxc/incus: the xz preset)",
            )
        }
        (None, _) => None,
    };
    let mut ports = Vec::new();
    for p in &a.ports {
        match p.parse::<u32>() {
            Ok(n) => ports.push(n),
            Err(_) => {
                return fail(
                    ErrorClass::Usage,
                    &format!("port `{p}` is not a number in 1-65535"),
                )
            }
        }
    }
    if !binship_sink::FORMATS.contains(&a.format.as_str()) {
        return fail(
            ErrorClass::Usage,
            &format!(
                "unknown format `{}` (expected one of {})",
                a.format,
                binship_sink::FORMATS.join(", ")
            ),
        );
    }

    if let Some(Err(m)) = a.platform.as_deref().map(binship_recipe::Target::parse) {
        return fail(ErrorClass::Usage, &m);
    }
    let push_flags = super::registry_flags(&a.registry);
    if let Err(m) = &push_flags {
        return fail(ErrorClass::Usage, m);
    }
    // Checked before packing: a bad reference must not cost a pack.
    if let Some(Err(e)) = a.push.as_deref().map(|r| Reference::parse(r, "v.1")) {
        return fail(ErrorClass::Usage, &e.to_string());
    }
    if let Err(m) = a.key.unused_without(a.sign) {
        return fail(ErrorClass::Usage, &m);
    }
    if (a.sign || a.sbom) && a.format != "oci" && a.push.is_none() {
        return fail(
            ErrorClass::Usage,
            "--sign and --sbom attach to an OCI layout (--format oci) or a pushed image (--push)",
        );
    }
    // The key is unlocked before anything is packed.
    let signing_key = if a.sign {
        match crate::commands::supply::unlock(&a.key) {
            Ok(k) => Some(k),
            Err((code, m)) => {
                error(json_mode, "usage", &m, json!({}));
                return code;
            }
        }
    } else {
        None
    };

    // Step 1: is there a binary?
    let mut versions = match store.versions(&a.app) {
        Ok(v) => v,
        Err(e) => return fail(ErrorClass::Other, &e.to_string()),
    };
    if versions.is_empty() {
        let msg = format!(
            "No binary found for {app}. Build one first: binship build {app}",
            app = a.app
        );
        // The seed's first branch, told apart for agents: no app at all, or no versions yet.
        let branch = if store.recipe_path(&a.app).is_file() {
            "no_versions"
        } else {
            "no_app"
        };
        if !(interactive() && !json_mode && store.recipe_path(&a.app).is_file()) {
            error(
                json_mode,
                "not_found",
                &msg,
                json!({ "branch": branch, "next": format!("binship build {}", a.app) }),
            );
            return exit::NOT_FOUND;
        }
        let build_now = dialoguer::Confirm::new()
            .with_prompt(format!("No binary found for {}. Build one first?", a.app))
            .default(true)
            .interact()
            .unwrap_or(false);
        if !build_now {
            return fail(ErrorClass::NotFound, &msg);
        }
        let spinner = Spinner::new();
        let built = binship_pipeline::build(
            store,
            &BuildRequest {
                app: a.app.clone(),
                ..Default::default()
            },
            &spinner,
            &Cancel::new(),
        );
        spinner.finish();
        if let Err(e) = built {
            error(json_mode, exit::name(e.class()), &e.to_string(), json!({}));
            return exit::code(e.class());
        }
        versions = store.versions(&a.app).unwrap_or_default();
    }

    // Step 2: which version?
    let mut selected_by = "flag";
    let version = match (requested, versions.as_slice()) {
        (Some(n), _) => n,
        (None, [only]) => {
            eprintln!(
                "Found {}-binary-v.{only}: auto-selected v.{only} (the only version)",
                a.app
            );
            selected_by = "only";
            *only
        }
        (None, many) => {
            let latest = *many.last().expect("not empty");
            let current = store
                .current(&a.app)
                .ok()
                .flatten()
                .filter(|c| many.contains(c));
            if interactive() && !json_mode {
                selected_by = "prompt";
                match prompt_version(store, &a.app, many, current) {
                    Some(v) => v,
                    None => return fail(ErrorClass::Interrupted, "no version selected"),
                }
            } else {
                let list = many
                    .iter()
                    .map(|v| format!("v.{v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match current {
                    Some(c) => {
                        eprintln!("{} versions of {} ({list}); not a terminal, so using the current one: v.{c} (--version N to choose)", many.len(), a.app);
                        selected_by = "current";
                        c
                    }
                    None => {
                        eprintln!("{} versions of {} ({list}); not a terminal, so using the latest: v.{latest} (--version N to choose)", many.len(), a.app);
                        selected_by = "latest";
                        latest
                    }
                }
            }
        }
    };

    // Step 3: which container type?
    let asked;
    let a = if ask_type {
        let mut r = original.clone();
        match resolve_type(store, &mut r, true) {
            Ok(t) => container_type = t,
            Err(m) => return fail(ErrorClass::Usage, &m),
        }
        asked = r;
        &asked
    } else {
        a
    };
    // Signed versions only, when asked (flag or recipe).
    let recipe_wants = binship_recipe::Recipe::load(&store.recipe_path(&a.app))
        .map(|r| r.container.require_signed)
        .unwrap_or(false);
    if a.require_signed || recipe_wants {
        let (_, failure) = crate::commands::supply::verify_version(
            store,
            &a.app,
            version,
            a.public_key.as_deref(),
        );
        if let Some(m) = failure {
            error(
                json_mode,
                "verify_failed",
                &format!(
                    "{} v.{version} does not verify ({m}); it was not packed",
                    a.app
                ),
                json!({}),
            );
            return exit::VERIFY_FAILED;
        }
    }
    // Default tag: v.N of the selected version.
    let push_to = a
        .push
        .as_deref()
        .and_then(|r| Reference::parse(r, &format!("v.{version}")).ok());
    let req = ScaffoldRequest {
        app: a.app.clone(),
        version,
        format: a.format.clone(),
        base: a.base.clone(),
        compression,
        out: a.output.clone(),
        force: a.force,
        tag: a.tag.clone(),
        allow_untested: a.allow_untested,
        overrides: Overrides {
            args: (!a.args.is_empty()).then(|| a.args.clone()),
            env: a.env.clone(),
            ports: (!ports.is_empty()).then_some(ports),
            user: a.user.clone(),
            workdir: a.workdir.clone(),
            stop_signal: a.stop_signal.clone(),
        },
        ca_bundle: a.ca_bundle.clone(),
        zoneinfo: a.zoneinfo,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        progress: None,
        platform: a.platform.clone(),
        service: a.service.clone(),
        alias: a.alias.clone(),
        split: a.split,
        xz_preset: match (a.format.as_str(), a.level) {
            (_, _) if compression.is_some() => None,
            ("lxc" | "incus", Some(l)) if (0..=9).contains(&l) => Some(l as u32),
            ("lxc" | "incus", Some(l)) => {
                return fail(
                    ErrorClass::Usage,
                    &format!("xz preset must be 0-9, got {l}"),
                )
            }
            _ => None,
        },
    };
    // A progress bar for large binaries on a terminal.
    let bar = store
        .record(&a.app, version)
        .ok()
        .filter(|r| r.binary.size >= PROGRESS_MIN_BYTES && console::Term::stderr().is_term())
        .map(|r| {
            let b = indicatif::ProgressBar::new(r.binary.size);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} packing",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
    let req = ScaffoldRequest {
        progress: bar.clone().map(|b| {
            binship_image::config::ProgressHook(std::sync::Arc::new(move |n| {
                b.set_position(n.min(b.length().unwrap_or(n)))
            }))
        }),
        ..req
    };
    let result = scaffold(store, &req);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Attachments in the layout.
    let mut attached: Vec<String> = Vec::new();
    let result = result
        .map_err(|e| (e.class(), e.to_string()))
        .and_then(|o| {
            if (a.sign || a.sbom) && a.format == "oci" {
                let path = &o.written.path;
                let (digest, size, media) = binship_sink::oci_layout::resolve(
                    path,
                    Some(o.written.tag.rsplit_once(':').map_or("latest", |t| t.1)),
                )
                .map_err(|e| (ErrorClass::Other, e.to_string()))?;
                let subject = binship_sign::image::Subject {
                    digest,
                    size,
                    media_type: media,
                };
                let atts = super::image::attachments(
                    store,
                    &o.app,
                    o.version,
                    &subject,
                    &o.written.tag,
                    signing_key.as_ref(),
                    a.sbom,
                )
                .map_err(|(_, m)| (ErrorClass::Other, m))?;
                attached = super::image::attach_to_layout(path, &atts)
                    .map_err(|(_, m)| (ErrorClass::Other, m))?;
            }
            Ok(o)
        });
    match result {
        Ok(o) => match (&push_to, &push_flags) {
            (Some(to), Ok(flags)) => {
                // The same settings, packed as OCI for the registry.
                let req = ScaffoldRequest {
                    progress: None,
                    ..req
                };
                let pushed =
                    super::push::pack_and_push(store, req, to, flags, json_mode).and_then(|p| {
                        if a.sign || a.sbom {
                            let subject = binship_sign::image::Subject {
                                digest: p.manifest_digest.clone(),
                                size: p.manifest_size,
                                media_type: p.media_type.clone(),
                            };
                            let atts = super::image::attachments(
                                store,
                                &o.app,
                                o.version,
                                &subject,
                                &p.reference,
                                signing_key.as_ref(),
                                a.sbom,
                            )
                            .map_err(|(_, m)| (ErrorClass::Other, m))?;
                            attached.extend(
                                super::image::attach_to_registry(to, &atts, flags)
                                    .map_err(|(_, m)| (ErrorClass::Other, m))?,
                            );
                        }
                        Ok(p)
                    });
                match pushed {
                    Ok(p) => {
                        if json_mode {
                            let mut v = written_json(
                                &o,
                                (container_type.as_deref(), selected_by, &versions),
                            );
                            v["pushed"] = serde_json::to_value(&p).unwrap_or_default();
                            v["attached"] = json!(attached);
                            crate::output::json(&v);
                        } else {
                            report(
                                &o,
                                false,
                                (container_type.as_deref(), selected_by, &versions),
                            );
                            super::push::report(false, &o.app, o.version, &p, "image");
                            for t in &attached {
                                println!("✓ Attached: {t}");
                            }
                        }
                        exit::OK
                    }
                    Err((class, m)) => fail(class, &format!("the image was written, but {m}")),
                }
            }
            _ => {
                if json_mode {
                    let mut v =
                        written_json(&o, (container_type.as_deref(), selected_by, &versions));
                    v["attached"] = json!(attached);
                    crate::output::json(&v);
                } else {
                    report(
                        &o,
                        false,
                        (container_type.as_deref(), selected_by, &versions),
                    );
                    for t in &attached {
                        println!("✓ Attached: {t}");
                    }
                }
                exit::OK
            }
        },
        Err((class, msg)) => fail(class, &msg),
    }
}

fn prompt_version(store: &Store, app: &str, versions: &[u32], current: Option<u32>) -> Option<u32> {
    let newest_first: Vec<u32> = versions.iter().rev().copied().collect();
    let default = current
        .and_then(|c| newest_first.iter().position(|v| *v == c))
        .unwrap_or(0);
    let items: Vec<String> = newest_first
        .iter()
        .enumerate()
        .map(|(i, v)| match store.record(app, *v) {
            Ok(r) => format!(
                "v.{v}  {}  tests {}/{} {}  commit {}{}",
                human_size(r.binary.size),
                r.passed,
                r.total,
                r.status,
                r.git.short,
                match (i == 0, Some(*v) == current) {
                    (true, true) => "  (latest, current)",
                    (true, false) => "  (latest)",
                    (false, true) => "  (current)",
                    _ => "",
                }
            ),
            Err(_) => format!("v.{v}  (no test results)"),
        })
        .collect();
    let i = dialoguer::Select::new()
        .with_prompt(format!("Which version of {app}?"))
        .items(&items)
        .default(default)
        .interact_opt()
        .ok()??;
    Some(newest_first[i])
}

fn written_json(o: &ScaffoldOutcome, ty: Answer) -> serde_json::Value {
    let w = &o.written;
    json!({
            "status": "written",
            "app": o.app,
            "version": o.version,
            "format": w.format,
            "path": w.path,
            "tag": w.tag,
            "base": o.base,
            "distro": o.distro,
            "service": o.service,
            "compression": o.compression,
            "manifest_digest": w.manifest_digest,
            "config_digest": w.config_digest,
            "layers": w.layers,
            "sizes": o.sizes,
            "inputs": o.inputs,
            "labels": o.labels,
            "untested": o.untested,
            "created": o.created,
            "platforms": o.platforms,
            "type": ty.0,
            "selection": { "by": ty.1, "versions": ty.2 },
            "warnings": o.warnings,
    })
}

fn report(o: &ScaffoldOutcome, json_mode: bool, ty: Answer) {
    let w = &o.written;
    for m in &o.warnings {
        eprintln!("warning: {m}");
    }
    if json_mode {
        crate::output::json(&written_json(o, ty));
        return;
    }
    let s = &o.sizes;
    let distro = match &o.distro {
        Some(d) if !d.pretty.is_empty() => format!(" ({})", d.pretty),
        Some(d) => format!(" ({})", d.id),
        None => String::new(),
    };
    let service = if o.service == "none" {
        String::new()
    } else {
        format!(", service {}", o.service)
    };
    println!(
        "✓ Image: {} ({}, {}, base {}{distro}{service})",
        display_path(&w.path).display(),
        w.format,
        w.tag,
        o.base
    );
    if o.platforms.len() > 1 {
        println!("  Platforms: {} (one image index)", o.platforms.join(", "));
    }
    println!(
        "✓ Binary: {}   Image: {} ({}; {} uncompressed)   Overhead: {}",
        human_size(s.binary),
        human_size(s.image_compressed),
        o.compression,
        human_size(s.image_uncompressed),
        if s.overhead >= 0 {
            human_size(s.overhead as u64)
        } else {
            format!("-{}", human_size(s.overhead.unsigned_abs()))
        }
    );
    if !w.config_digest.is_empty() {
        println!(
            "  {}  seed: Alpine + binary ~25 MB, built in Debian 169 MB; this image {}",
            w.manifest_digest
                .as_ref()
                .map(|d| format!("manifest {d}"))
                .unwrap_or_else(|| format!("image id {}", w.config_digest)),
            human_size(s.image_compressed)
        );
    }
    let shown = display_path(&w.path).display().to_string();
    match w.format {
        "lxc" => println!(
            "  deploy: lxc-create -t local -n {alias} -- --metadata {shown}/meta.tar.xz --fstree {shown}/rootfs.tar.xz",
            alias = w.tag
        ),
        "incus" => println!("  deploy: incus image import {shown} --alias {a} && incus launch {a} my-{app}-instance", a = w.tag, app = o.app),
        _ => {}
    }
    if o.untested {
        eprintln!(
            "warning: v.{} was packed with --allow-untested (label io.binship.untested)",
            o.version
        );
    }
}
