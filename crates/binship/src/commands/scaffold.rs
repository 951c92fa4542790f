//! `binship scaffold <app>`: the seed's decision tree (no binary -> build first; one version ->
//! auto; several -> prompt on a terminal, else the current or latest), then pack and write the
//! image. The settings are the library's [`ScaffoldPlan`]; this module asks and prints.

use std::io::IsTerminal;

use binship_build::Cancel;
use binship_pipeline::plan::{
    select_version, ContainerType, ScaffoldFlags, ScaffoldPlan, Selection, VersionPrompt,
};
use binship_pipeline::scaffold::ScaffoldOutcome;
use binship_pipeline::{BuildRequest, ErrorClass};
use binship_publish::PublishRequest;
use binship_sink::Format;
use binship_store::readme::human_size;
use binship_store::Store;
use serde_json::json;

use crate::cli::ScaffoldArgs;
use crate::exit;
use crate::output::{display_path, error};
use crate::progress::{BlobBars, Spinner};

fn interactive() -> bool {
    std::io::stdin().is_terminal() && console::Term::stderr().is_term()
}

/// The flags as the library takes them.
fn flags_of(a: &ScaffoldArgs) -> ScaffoldFlags {
    ScaffoldFlags {
        app: a.app.clone(),
        version: a.version.clone(),
        container_type: a.container_type.clone(),
        format: a.format_arg.clone(),
        base: a.base.clone(),
        compress: a.compress.clone(),
        level: a.level,
        output: a.output.clone(),
        force: a.force,
        tag: a.tag.clone(),
        alias: a.alias.clone(),
        split: a.split,
        no_image_test: a.no_image_test,
        image_test_engine: a.image_test_engine.clone(),
        image_test_run_args: a.image_test_run_args.clone(),
        allow_untested: a.allow_untested,
        platform: a.platform.clone(),
        service: a.service.clone(),
        ca_bundle: a.ca_bundle.clone(),
        zoneinfo: a.zoneinfo,
        args: a.args.clone(),
        env: a.env.clone(),
        ports: a.ports.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        stop_signal: a.stop_signal.clone(),
        push: a.push.clone(),
        sign: a.sign,
        sbom: a.sbom,
        key_given: a.key.secret_key.is_some() || a.key.password_file.is_some(),
        require_signed: a.require_signed,
        public_key_given: a.public_key.is_some(),
        registry_given: a.registry.insecure
            || a.registry.chunk_size.is_some()
            || !a.registry.mount_from.is_empty(),
    }
}

/// The seed's "Container type?" prompt, offering only the types the plan accepts here (an
/// lxc-alpine without the recipe's alpine base would fail after the questions).
fn prompt_type(
    store: &Store,
    flags: &ScaffoldFlags,
    default: Option<ContainerType>,
) -> Option<ContainerType> {
    let types: Vec<ContainerType> = ContainerType::ALL
        .into_iter()
        .filter(|t| ScaffoldPlan::new(store, flags, Some(*t)).is_ok())
        .collect();
    let at = types.iter().position(|t| Some(*t) == default).unwrap_or(0);
    let i = dialoguer::Select::new()
        .with_prompt("Container type")
        .items(types.iter().map(|t| t.name()))
        .default(at)
        .interact()
        .ok()?;
    types.get(i).copied()
}

pub fn run(store: &Store, json_mode: bool, a: &ScaffoldArgs) -> i32 {
    let fail = |class: ErrorClass, m: &str| {
        error(json_mode, exit::name(class), m, json!({}));
        exit::code(class)
    };
    let flags = flags_of(a);
    // The seed asks "Container type?" after the version (step 3): on a terminal with neither
    // --type nor --format, the defaults stand in until then.
    let ask_type =
        a.container_type.is_none() && a.format_arg.is_none() && interactive() && !json_mode;
    let mut plan = match ScaffoldPlan::new(store, &flags, None) {
        Ok(p) => p,
        Err(e) => return fail(ErrorClass::Usage, &e.to_string()),
    };
    let registry = match a.registry.options() {
        Ok(r) => r,
        Err(m) => return fail(ErrorClass::Usage, &m),
    };
    // The key is unlocked before anything is packed.
    let signing_key = match a
        .sign
        .then(|| crate::keys::unlock_image_key(&a.key))
        .transpose()
    {
        Ok(k) => k,
        Err(m) => return fail(ErrorClass::Usage, &m),
    };

    // Steps 1 and 2: is there a binary, and which version?
    let app = a.app.as_str();
    let ask_version = |vs: &[u32], current: Option<u32>| prompt_version(store, app, vs, current);
    let prompt: Option<VersionPrompt> = (interactive() && !json_mode).then_some(&ask_version);
    let (mut selection, mut versions) =
        match select_version(store, app, plan.requested_version, prompt) {
            Ok(s) => s,
            Err(e) => return fail(ErrorClass::Other, &e.to_string()),
        };
    if matches!(selection, Selection::NoApp | Selection::NoVersions) {
        let msg = store.no_binary_message(app);
        if !(interactive() && !json_mode && selection == Selection::NoVersions) {
            // The seed's first branch, told apart for agents: no app at all, or no versions yet.
            error(
                json_mode,
                "not_found",
                &msg,
                json!({ "branch": selection.by(), "next": format!("binship build {app}") }),
            );
            return exit::NOT_FOUND;
        }
        let build_now = dialoguer::Confirm::new()
            .with_prompt(format!("No binary found for {app}. Build one first?"))
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
                app: app.into(),
                ..Default::default()
            },
            &spinner,
            &Cancel::new(),
        );
        spinner.finish();
        match built {
            Ok(b) => {
                let r = b.record();
                say!(
                    "✓ Built {app} v.{}: {}, static {}, tests {}/{} passed",
                    r.version,
                    human_size(r.binary.size),
                    if r.binary.is_static { "yes" } else { "no" },
                    r.passed,
                    r.total
                );
            }
            Err(e) => {
                error(json_mode, exit::name(e.class()), &e.to_string(), json!({}));
                return exit::code(e.class());
            }
        }
        (selection, versions) = match select_version(store, app, None, prompt) {
            Ok(s) => s,
            Err(e) => return fail(ErrorClass::Other, &e.to_string()),
        };
    }
    if let Some(n) = selection.notice(app, &versions) {
        eprintln!("{n}");
    }
    let Some(version) = selection.version() else {
        return fail(ErrorClass::Interrupted, "no version selected");
    };

    // Step 3: which container type?
    if ask_type {
        let Some(t) = prompt_type(store, &flags, plan.container_type) else {
            return fail(ErrorClass::Interrupted, "no container type selected");
        };
        plan = match ScaffoldPlan::new(store, &flags, Some(t)) {
            Ok(p) => p,
            Err(e) => return fail(ErrorClass::Usage, &e.to_string()),
        };
    }
    // Ctrl-C or SIGTERM: the image test stops and cleans up (a booted LXC container too),
    // and scaffold exits 130 with nothing written; a second one exits at once.
    let cancel = Cancel::new();
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        let testing =
            binship_pipeline::image_test::RUNNING.load(std::sync::atomic::Ordering::SeqCst);
        if c.is_cancelled() || !testing {
            // Outside the image test a sink's temp file is swept by the next write.
            std::process::exit(exit::INTERRUPTED);
        }
        c.cancel();
    });
    plan.cancel_with(cancel);
    let container_type = plan.container_type.map(|t| t.name());
    let selected_by = selection.by();
    let push_to = plan.push_reference(version);
    // Progress on a terminal for packing that takes more than a second: the layer bytes of an
    // application image (of its binary's size), the root filesystem going into a system
    // image's compressor (xz takes about a minute for a Debian one).
    let system = plan.format.is_system();
    let bar = (console::Term::stderr().is_term() && !json_mode).then(|| {
        let size = store.record(&a.app, version).map_or(0, |r| r.binary.size);
        let (b, style) = match system {
            true => (
                indicatif::ProgressBar::no_length(),
                "{spinner} {elapsed:>3} {decimal_bytes} {decimal_bytes_per_sec} compressing the root filesystem",
            ),
            false => (
                indicatif::ProgressBar::new(size),
                "{bar:40} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} packing",
            ),
        };
        b.set_style(
            indicatif::ProgressStyle::with_template(style)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        // A large binary shows its bar at once; the rest after a second.
        if system || size < 16 << 20 {
            b.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        b
    });
    let started = std::time::Instant::now();
    let hook = bar.clone().map(|b| {
        binship_image::config::ProgressHook(std::sync::Arc::new(move |n| {
            if b.is_hidden() && started.elapsed() > std::time::Duration::from_secs(1) {
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                b.enable_steady_tick(std::time::Duration::from_millis(200));
            }
            b.set_position(n.min(b.length().unwrap_or(n)))
        }))
    });
    let result = binship_publish::pack(store, &plan, version, a.public_key.as_deref(), hook);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let result = match result {
        Ok(o) => o,
        Err(e) => return fail(e.class, &e.message),
    };
    // Attachments, and the push.
    let bars = BlobBars::new(!json_mode, "uploading");
    let publish = PublishRequest {
        key: signing_key.as_ref(),
        sbom: a.sbom,
        push_to,
        registry,
        progress: Some(&bars),
    };
    let published = match binship_publish::publish(store, &result, &publish) {
        Ok(p) => p,
        Err(e) => return fail(e.class, &e.message),
    };
    crate::output::warnings(&result.facts.warnings);
    if json_mode {
        let mut v = result.answer(container_type, selected_by, &versions);
        if let Some(p) = &published.pushed {
            v["pushed"] = json!(p.pushed);
            v["warnings"] = json!([result.facts.warnings.clone(), p.warnings.clone()].concat());
        }
        v["attached"] = json!(published.attached);
        crate::output::json(&v);
    } else {
        report(&result);
        if let Some(p) = &published.pushed {
            crate::output::warnings(&p.warnings);
            crate::output::pushed(false, &result.app, result.version, &p.pushed, "image");
        }
        for t in &published.attached {
            say!("✓ Attached: {t}");
        }
    }
    exit::OK
}

fn prompt_version(store: &Store, app: &str, versions: &[u32], current: Option<u32>) -> Option<u32> {
    let c = binship_pipeline::plan::version_choices(store, app, versions, current);
    let i = dialoguer::Select::new()
        .with_prompt(format!("Which version of {app}"))
        .items(&c.labels)
        .default(c.default)
        .interact_opt()
        .ok()??;
    Some(c.versions[i])
}

fn report(o: &ScaffoldOutcome) {
    let w = &o.written;
    let s = &o.sizes;
    let distro = match &o.facts.distro {
        Some(d) if !d.pretty.is_empty() => format!(" ({})", d.pretty),
        Some(d) => format!(" ({})", d.id),
        None => String::new(),
    };
    let service = if o.facts.service == "none" {
        String::new()
    } else {
        format!(", service {}", o.facts.service)
    };
    say!(
        "✓ Image: {} ({}, {}, base {}{distro}{service})",
        display_path(&w.path).display(),
        w.format,
        w.tag,
        o.facts.base
    );
    match &w.previous {
        Some(p) if p.unchanged => println!(
            "  Unchanged: it already held this image ({}); nothing was replaced",
            p.digest
        ),
        Some(p) => println!("  Replaced: it held {} before", p.digest),
        None => {}
    }
    if o.facts.platforms.len() > 1 {
        println!(
            "  Platforms: {} (one image index)",
            o.facts.platforms.join(", ")
        );
    }
    say!(
        "✓ Binary: {}   Image: {} ({}; {} uncompressed)   Overhead: {}",
        human_size(s.binary),
        human_size(s.image_compressed),
        o.compression,
        human_size(s.image_uncompressed),
        human_size(s.overhead.max(0) as u64)
    );
    if let Some(t) = &o.image_tests {
        match t.status.as_str() {
            "passed" if t.reused.is_some() => say!(
                "✓ Image test: {}/{} passed ({} runner), remembered: this same image passed at {} with the same checks; not run again",
                t.passed,
                t.total,
                t.runner,
                t.reused.as_deref().unwrap_or_default()
            ),
            "passed" => say!(
                "✓ Image test: {}/{} passed, {} ({:.1} s)",
                t.passed,
                t.total,
                if t.runner == "lxc" {
                    "booted by its init in LXC".to_string()
                } else {
                    format!("run as it will run ({} runner)", t.runner)
                },
                t.duration_ms as f64 / 1000.0
            ),
            _ => println!(
                "  Image test skipped: {}",
                t.reason.as_deref().unwrap_or("")
            ),
        }
        if let (Some(note), None) = (&t.note, &t.reused) {
            println!("  Image test runner: {note}");
        }
    }
    if !w.config_digest.is_empty() {
        println!(
            "  {}",
            w.manifest_digest
                .as_ref()
                .map(|d| format!("manifest {d}"))
                .unwrap_or_else(|| format!("image id {}", w.config_digest)),
        );
    }
    let shown = display_path(&w.path).display().to_string();
    match w.format {
        Format::Lxc => println!(
            "  deploy: lxc-create -t local -n {alias} -- --metadata {shown}/meta.tar.xz --fstree {shown}/rootfs.tar.xz",
            alias = w.tag
        ),
        Format::Incus => println!("  deploy: incus image import {shown} --alias {a} && incus launch {a} my-{app}-instance", a = w.tag, app = o.app),
        _ => {}
    }
    if o.facts.untested {
        eprintln!(
            "warning: v.{} was packed with --allow-untested (label io.binship.untested)",
            o.version
        );
    }
}
