//! binship as an MCP server over stdio ([`serve`]), with 12 tools that call the library
//! in-process, the same functions and answer types the CLI prints: `list_binaries`, `promote`,
//! `rollback`, `history`, `gc` (binship-lifecycle), `build` (binship-pipeline, with progress
//! notifications), `scaffold` (the CLI's non-interactive path: binship-pipeline's plan and
//! binship-publish's pack), `verify`, `push`, `inspect`, `sign` (binship-publish) and `deploy`
//! (binship-deploy). Every tool returns the document `binship ... --json` prints as structured
//! content ([`ToolOutput`], matching its output schema), with the exit code of the error's
//! class. stdout carries the protocol only; logs go to stderr. Heavy dependencies (tokio,
//! rmcp) stay in this crate.

use std::path::PathBuf;
use std::time::Duration;

use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ProgressNotificationParam, RequestMetaObject,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{Peer, RoleServer};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use binship_pipeline::ErrorClass;
use binship_store::Store;

/// The tools, each with the CLI command whose `--json` document it answers with: one table
/// for the server (a test checks its router against it), the CLI (`binship mcp` announces it)
/// and the tests.
pub const TOOLS: &[(&str, &str)] = &[
    ("list_binaries", "list"),
    ("build", "build"),
    ("scaffold", "scaffold"),
    ("verify", "verify"),
    ("deploy", "deploy"),
    ("promote", "promote"),
    ("rollback", "rollback"),
    ("history", "history"),
    ("gc", "gc"),
    ("push", "push"),
    ("inspect", "inspect"),
    ("sign", "sign"),
];

/// What every tool returns: the CLI's exit code and status, and its `--json` document.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ToolOutput {
    /// "ok" or "error".
    pub status: String,
    /// The documented binship exit code (0 ok, 2 usage, 3 not found, 6 tests failed, ...).
    pub exit_code: i32,
    /// The command's `--json` document (the same as `binship ... --json` prints).
    pub result: serde_json::Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only this app.
    pub app: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildArgs {
    /// The app (its recipe is images/standalone-binaries/<app>/binship.toml).
    pub app: String,
    /// An explicit version number (default: the next, or up to date).
    pub version: Option<u32>,
    /// Rebuild even when up to date.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaffoldArgs {
    pub app: String,
    /// The version (default: current, else the latest).
    pub version: Option<u32>,
    /// docker, podman, oci, lxc-alpine, lxc-debian or incus.
    #[serde(rename = "type")]
    pub container_type: Option<String>,
    /// docker-archive, oci, oci-archive, lxc or incus (overrides the type's).
    pub format: Option<String>,
    /// scratch, static, rootfs:PATH, oci:DIR, ...
    pub base: Option<String>,
    /// Output path (default under images/docker/ or images/lxc/).
    pub output: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyArgs {
    /// An app (its stored version is verified) or an image (oci:DIR[:TAG], REGISTRY/REPO:TAG).
    pub target: String,
    pub version: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployArgs {
    pub app: String,
    /// docker or podman.
    pub to: String,
    pub name: Option<String>,
    /// Run and probe it on this port.
    pub port: Option<u16>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteArgs {
    pub app: String,
    /// The version to make current.
    pub version: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackArgs {
    pub app: String,
    /// Plain HTTP (and any certificate) when re-tagging in a registry.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppArg {
    pub app: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcArgs {
    /// Only this app (default: every app).
    pub app: Option<String>,
    /// Also keep this many newest versions (default 3).
    pub keep: Option<usize>,
    /// Remove (default: only report what would go).
    #[serde(default)]
    pub apply: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushArgs {
    pub app: String,
    /// The version (default: current, else the latest).
    pub version: Option<u32>,
    /// REGISTRY/REPO[:TAG] (default tag v.N).
    pub reference: String,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectArgs {
    /// docker-archive:FILE, oci:DIR[:TAG], oci-archive:FILE or REGISTRY/REPO:TAG.
    pub image: String,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignArgs {
    pub app: String,
    /// The version (default: the latest).
    pub version: Option<u32>,
    /// The secret key file (default: $XDG_CONFIG_HOME/binship/binship.key).
    pub key: Option<String>,
    /// A file whose first line is the key's password.
    pub password_file: Option<String>,
}

/// A library failure: its class (which gives the exit code) and one line.
type Failure = (ErrorClass, String);

/// A document with its exit code as the tool's result (a tool error, still structured, when
/// the code is not 0).
fn reply(exit_code: i32, result: serde_json::Value) -> CallToolResult {
    let ok = exit_code == 0;
    let value = serde_json::to_value(ToolOutput {
        status: if ok { "ok" } else { "error" }.into(),
        exit_code,
        result,
    })
    .expect("serializes");
    if ok {
        CallToolResult::structured(value)
    } else {
        CallToolResult::structured_error(value)
    }
}

/// A library answer (or its failure) as the tool's result, with the same exit code and JSON
/// as the CLI.
fn answer<T: Serialize>(r: Result<T, Failure>) -> CallToolResult {
    match r {
        Ok(v) => reply(0, serde_json::to_value(v).expect("serializes")),
        Err((class, message)) => reply(
            class.exit_code(),
            serde_json::json!({ "status": "error", "error": class.name(), "message": message }),
        ),
    }
}

fn lifecycle(e: binship_lifecycle::LifecycleError) -> Failure {
    (e.class(), e.to_string())
}

fn publish(e: binship_publish::PublishError) -> Failure {
    (e.class, e.message)
}

/// Runs blocking library work (registry, engines, disk) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ErrorData> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

/// `APP` and an optional version -> the app and its version (default: current, else latest).
fn app_version(store: &Store, app: &str, version: Option<u32>) -> Result<(String, u32), Failure> {
    let spec = version.map_or_else(|| app.to_string(), |v| format!("{app}:{v}"));
    binship_lifecycle::app_version(store, &spec)
}

/// A build's progress, sent to the task that notifies the client.
struct Relay(tokio::sync::mpsc::UnboundedSender<String>);

impl binship_pipeline::Progress for Relay {
    fn step(&self, msg: &str) {
        eprintln!("{msg}");
        let _ = self.0.send(msg.to_string());
    }
    fn line(&self, line: &str) {
        eprintln!("{line}");
        let _ = self.0.send(line.to_string());
    }
}

/// Sends `what`'s progress to the client when it asked (a progress token): "started", each
/// message, "still working" at least every 2 s, and "finished" when the sender is dropped.
async fn relay_progress(
    what: &str,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    meta: RequestMetaObject,
    peer: Peer<RoleServer>,
) {
    let token = meta.get_progress_token();
    let notify = |step: f64, message: String| {
        let (token, peer) = (token.clone(), peer.clone());
        async move {
            if let Some(t) = token {
                let p = ProgressNotificationParam::new(t, step).with_message(message);
                let _ = peer.notify_progress(p).await;
            }
        }
    };
    notify(0.0, format!("binship {what} started")).await;
    let mut step = 0.0;
    loop {
        step += 1.0;
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(m)) => notify(step, m).await,
            Ok(None) => break,
            Err(_) => notify(step, "still working".into()).await,
        }
    }
    notify(step, format!("binship {what} finished")).await;
}

/// The scaffold tool: the CLI's non-interactive path (no prompts; several versions: the
/// current, else the latest), through the same library plan and packing.
fn scaffold(store: &Store, a: ScaffoldArgs) -> Result<serde_json::Value, Failure> {
    use binship_pipeline::plan::{select_version, ScaffoldFlags, ScaffoldPlan, Selection};
    let flags = ScaffoldFlags {
        app: a.app.clone(),
        version: a.version.map(|v| v.to_string()),
        container_type: a.container_type,
        format: a.format,
        base: a.base,
        output: a.output.map(PathBuf::from),
        ..Default::default()
    };
    let plan =
        ScaffoldPlan::new(store, &flags, None).map_err(|e| (ErrorClass::Usage, e.to_string()))?;
    let (selection, versions) = select_version(store, &a.app, plan.requested_version, None)
        .map_err(|e| (ErrorClass::Other, e.to_string()))?;
    let version = match selection {
        Selection::NoApp | Selection::NoVersions => {
            let app = &a.app;
            let m = store.no_binary_message(app);
            return Err((ErrorClass::NotFound, m));
        }
        _ => selection
            .version()
            .ok_or((ErrorClass::Other, "no version selected".into()))?,
    };
    if let Some(n) = selection.notice(&a.app, &versions) {
        eprintln!("{n}");
    }
    let o = binship_publish::pack(store, &plan, version, None, None).map_err(publish)?;
    for w in &o.facts.warnings {
        eprintln!("warning: {w}");
    }
    let ty = plan.container_type.map(|t| t.name());
    Ok(o.answer(ty, selection.by(), &versions))
}

/// The server: the store it works on.
#[derive(Clone)]
pub struct Binship {
    store: Option<PathBuf>,
    tool_router: ToolRouter<Self>,
}

impl Binship {
    pub fn new(store: Option<PathBuf>) -> Binship {
        Binship {
            store,
            tool_router: Self::tool_router(),
        }
    }

    /// The store the tools work on.
    fn store(&self) -> binship_store::Store {
        match &self.store {
            Some(s) => binship_store::Store::at(s.clone()),
            None => {
                binship_store::Store::discover(&std::env::current_dir().unwrap_or_default(), None)
            }
        }
    }
}

/// The tool's arguments as `T`: a missing or wrong-typed field is a JSON-RPC "invalid params"
/// error (-32602) naming it, never a crash.
fn args<T: serde::de::DeserializeOwned>(tool: &str, obj: JsonObject) -> Result<T, ErrorData> {
    serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| ErrorData::invalid_params(format!("{tool}: {e}"), None))
}

#[tool_router(router = tool_router)]
impl Binship {
    /// The apps and their stored versions (size, static, tests, commit, platforms).
    #[tool(name = "list_binaries", input_schema = schema_for_type::<ListArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "List the apps and their stored, tested versions (binship list --json).")]
    async fn list_binaries(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: ListArgs = args("list_binaries", raw)?;
        let r = binship_lifecycle::list(&self.store(), a.app.as_deref());
        Ok(answer(r.map_err(lifecycle)))
    }

    #[tool(name = "build", input_schema = schema_for_type::<BuildArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Build, test and store a static binary version of an app (binship build --json). Reports progress while it builds.")]
    async fn build(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: BuildArgs = args("build", raw)?;
        let store = self.store();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let work = tokio::task::spawn_blocking(move || {
            let req = binship_pipeline::BuildRequest {
                app: a.app,
                version: a.version,
                force: a.force,
                ..Default::default()
            };
            let progress = Relay(tx);
            match binship_pipeline::build(&store, &req, &progress, &binship_build::Cancel::new()) {
                Ok(outcome) => reply(0, outcome.answer()),
                Err(e) => {
                    let mut doc = serde_json::json!({
                        "status": "error", "error": e.class().name(), "message": e.to_string()
                    });
                    if let (Some(d), Some(x)) = (doc.as_object_mut(), e.details().as_object()) {
                        d.extend(x.clone());
                    }
                    reply(e.class().exit_code(), doc)
                }
            }
        });
        relay_progress("build", rx, meta, peer).await;
        work.await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    #[tool(name = "scaffold", input_schema = schema_for_type::<ScaffoldArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Pack a stored, tested version into a minimal image (binship scaffold --json); without a version: current, else the latest.")]
    async fn scaffold(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: ScaffoldArgs = args("scaffold", raw)?;
        let store = self.store();
        blocking(move || answer(scaffold(&store, a))).await
    }

    #[tool(name = "verify", input_schema = schema_for_type::<VerifyArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Verify a stored version (signatures, sha256, tests) or an image's signature (binship verify --json).")]
    async fn verify(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: VerifyArgs = args("verify", raw)?;
        let store = self.store();
        blocking(move || {
            if a.target.contains(['/', ':']) {
                let r = binship_publish::image::verify_image(&a.target, &Default::default());
                return answer(r.map_err(publish));
            }
            match app_version(&store, &a.target, a.version) {
                Ok((app, v)) => {
                    let r = binship_publish::verify::Verification::of(&store, &app, v, None);
                    let code = if r.error.is_none() {
                        0
                    } else {
                        ErrorClass::VerifyFailed.exit_code()
                    };
                    reply(code, serde_json::to_value(r).expect("serializes"))
                }
                Err(f) => answer::<()>(Err(f)),
            }
        })
        .await
    }

    #[tool(name = "deploy", input_schema = schema_for_type::<DeployArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Load the app's image into docker or podman, start it on the host network and wait until healthy (binship deploy --json).")]
    async fn deploy(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: DeployArgs = args("deploy", raw)?;
        let store = self.store();
        blocking(move || {
            let r = app_version(&store, &a.app, None).and_then(|(app, version)| {
                let req = binship_deploy::DeployRequest {
                    app,
                    version,
                    to: a.to,
                    name: a.name,
                    port: a.port,
                    ..Default::default()
                };
                binship_deploy::deploy(&store, &req).map_err(|e| (e.class, e.message))
            });
            answer(r)
        })
        .await
    }

    #[tool(name = "promote", input_schema = schema_for_type::<PromoteArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Make a stored version the app's current one (it must have passed its tests, and verify when the recipe requires signed versions).")]
    async fn promote(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: PromoteArgs = args("promote", raw)?;
        let store = self.store();
        Ok(answer(
            binship_lifecycle::promote(&store, &a.app, a.version)
                .map(|e| binship_lifecycle::Promoted::new(&a.app, &e))
                .map_err(lifecycle),
        ))
    }

    #[tool(name = "rollback", input_schema = schema_for_type::<RollbackArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Move the app's current version back to the newest older version that passed (re-tagging its published images as :current and :latest).")]
    async fn rollback(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: RollbackArgs = args("rollback", raw)?;
        let store = self.store();
        let r = tokio::task::spawn_blocking(move || {
            binship_lifecycle::rollback(&store, &a.app, a.insecure)
                .map(|r| binship_lifecycle::RolledBack::new(&a.app, &r))
                .map_err(lifecycle)
        })
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(answer(r))
    }

    #[tool(name = "history", input_schema = schema_for_type::<AppArg>(), output_schema = schema_for_output::<ToolOutput>(), description = "The moves of the app's current version (promote, rollback, update), oldest first, and the current version.")]
    async fn history(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: AppArg = args("history", raw)?;
        Ok(answer(
            binship_lifecycle::history(&self.store(), &a.app).map_err(lifecycle),
        ))
    }

    #[tool(name = "gc", input_schema = schema_for_type::<GcArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Old versions to remove (a dry run unless apply): never current, the version before it, a published version, or the newest `keep`.")]
    async fn gc(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: GcArgs = args("gc", raw)?;
        let r = binship_lifecycle::gc(
            &self.store(),
            a.app.as_deref(),
            a.keep.unwrap_or(3),
            a.apply,
        )
        .map(|plans| binship_lifecycle::Collected::new(a.apply, plans))
        .map_err(lifecycle);
        Ok(answer(r))
    }

    #[tool(name = "push", input_schema = schema_for_type::<PushArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Push a stored version's image (OCI, gzip) to a registry (binship push --json).")]
    async fn push(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: PushArgs = args("push", raw)?;
        let store = self.store();
        blocking(move || {
            let r = app_version(&store, &a.app, a.version).and_then(|(app, version)| {
                let to = binship_sink::Repository::parse(&a.reference)
                    .map_err(|e| (ErrorClass::Usage, e.to_string()))?
                    .reference(version);
                let req = binship_pipeline::scaffold::ScaffoldRequest {
                    app: app.clone(),
                    version,
                    ..Default::default()
                };
                let registry = binship_publish::RegistryOptions {
                    insecure: a.insecure,
                    ..Default::default()
                };
                let p = binship_publish::push::pack_and_push(&store, req, &to, &registry, None)
                    .map_err(publish)?;
                for w in &p.warnings {
                    eprintln!("warning: {w}");
                }
                let doc = binship_publish::push::PushAnswer::new("image", &app, version, &p.pushed)
                    .with_image_tests(p.image_tests.as_ref());
                Ok(serde_json::to_value(doc).expect("serializes"))
            });
            answer(r)
        })
        .await
    }

    #[tool(name = "inspect", input_schema = schema_for_type::<InspectArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "An image's provenance: commit, dirty, toolchain, build command, tests, binary sha256 (binship inspect --json).")]
    async fn inspect(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: InspectArgs = args("inspect", raw)?;
        blocking(move || {
            answer(binship_publish::image::inspect(&a.image, a.insecure).map_err(publish))
        })
        .await
    }

    #[tool(name = "sign", input_schema = schema_for_type::<SignArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Sign a stored version with minisign: <binary>.minisig and test-results.json.minisig (binship sign --json).")]
    async fn sign(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: SignArgs = args("sign", raw)?;
        let store = self.store();
        let r = app_version(&store, &a.app, a.version).and_then(|(app, v)| {
            let key = a.key.as_deref().map(std::path::Path::new);
            let pw = a.password_file.as_deref().map(std::path::Path::new);
            binship_publish::supply::sign_with_key_file(&store, &app, v, key, pw).map_err(publish)
        });
        Ok(answer(r))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Binship {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("binship", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "binship turns source into tested, versioned static binaries and minimal images: \
             build an app, scaffold an image from a stored version, verify, deploy, promote, \
             roll back, read the history, push, inspect, sign, garbage-collect."
                .into(),
        );
        info
    }
}

/// Serves MCP on stdin/stdout until the client closes the connection.
///
/// # Errors
/// The runtime or the transport failed (an I/O error on stdin/stdout).
pub fn serve(store: Option<PathBuf>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let service = Binship::new(store)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| std::io::Error::other(format!("starting the MCP server: {e}")))?;
        service.waiting().await.map_err(std::io::Error::other)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_serves_exactly_the_table() {
        let mut served: Vec<String> = Binship::new(None)
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        served.sort();
        let mut table: Vec<&str> = TOOLS.iter().map(|t| t.0).collect();
        table.sort();
        assert_eq!(served, table);
    }
}
