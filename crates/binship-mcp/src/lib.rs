//! binship as an MCP server over stdio ([`serve`]), with 12 tools. `promote`, `rollback`,
//! `history` and `gc` call the library in-process (`binship_lifecycle`, the same functions and
//! answer types the CLI prints); `list_binaries`, `build`, `scaffold`, `verify`, `deploy`,
//! `push`, `inspect` and `sign` still run the binship CLI with `--json` (their library API at
//! command level is not there yet). Every tool returns the same document `binship ... --json`
//! prints as structured content ([`ToolOutput`], matching its output schema), with the exit
//! code of the error's class. stdout carries the protocol only; every log goes to stderr; a running build sends
//! progress notifications. Heavy dependencies (tokio, rmcp) stay in this crate.

use std::path::PathBuf;
use std::process::Stdio;
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
use tokio::io::AsyncBufReadExt;

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

/// A library answer (or its typed error) as the tool's result, with the same exit code and
/// JSON as the CLI.
fn answer<T: Serialize>(r: Result<T, binship_lifecycle::LifecycleError>) -> CallToolResult {
    match r {
        Ok(v) => CallToolResult::structured(
            serde_json::to_value(ToolOutput {
                status: "ok".into(),
                exit_code: 0,
                result: serde_json::to_value(v).expect("serializes"),
            })
            .expect("serializes"),
        ),
        Err(e) => CallToolResult::structured_error(
            serde_json::to_value(ToolOutput {
                status: "error".into(),
                exit_code: e.class().exit_code(),
                result: serde_json::json!({
                    "status": "error", "error": e.class().name(), "message": e.to_string()
                }),
            })
            .expect("serializes"),
        ),
    }
}

/// The server: where the binship binary is, and the store it works on.
#[derive(Clone)]
pub struct Binship {
    exe: PathBuf,
    store: Option<PathBuf>,
    tool_router: ToolRouter<Self>,
}

impl Binship {
    pub fn new(exe: PathBuf, store: Option<PathBuf>) -> Binship {
        Binship {
            exe,
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

    /// Runs `binship ARGS --json`; its stderr is relayed to ours (and, when the client asked,
    /// as progress notifications, one per line and at least every 2 s while it runs).
    async fn run(
        &self,
        args: Vec<String>,
        progress: Option<(RequestMetaObject, Peer<RoleServer>)>,
    ) -> Result<CallToolResult, ErrorData> {
        let what = args.first().cloned().unwrap_or_default();
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.args(&args)
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(s) = &self.store {
            cmd.env("BINSHIP_STORE", s);
        }
        let mut child = cmd.spawn().map_err(|e| {
            ErrorData::internal_error(format!("running {}: {e}", self.exe.display()), None)
        })?;
        let stderr = child.stderr.take().expect("piped");
        let token = progress
            .as_ref()
            .and_then(|(meta, _)| meta.get_progress_token());
        let peer = progress.map(|(_, p)| p);
        let relay = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut step = 0.0;
            let mut last_error = String::new();
            if let (Some(t), Some(p)) = (&token, &peer) {
                let _ = p
                    .notify_progress(
                        ProgressNotificationParam::new(t.clone(), 0.0)
                            .with_message(format!("binship {what} started")),
                    )
                    .await;
            }
            loop {
                let next = tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await;
                let message = match next {
                    Ok(Ok(Some(line))) => {
                        eprintln!("{line}");
                        if let Some(e) = line.strip_prefix("error: ") {
                            last_error = e.to_string();
                        }
                        line
                    }
                    Ok(_) => {
                        if let (Some(t), Some(p)) = (&token, &peer) {
                            let _ = p
                                .notify_progress(
                                    ProgressNotificationParam::new(t.clone(), step + 1.0)
                                        .with_message(format!("binship {what} finished")),
                                )
                                .await;
                        }
                        break last_error;
                    }
                    Err(_) => "still working".to_string(),
                };
                if let (Some(t), Some(p)) = (&token, &peer) {
                    step += 1.0;
                    let _ = p
                        .notify_progress(
                            ProgressNotificationParam::new(t.clone(), step).with_message(message),
                        )
                        .await;
                }
            }
        });
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let last_error = relay.await.unwrap_or_default();
        let code = out.status.code().unwrap_or(1);
        // No JSON on stdout (arguments clap refused): the class of the exit code and the error
        // line, as the CLI's JSON errors carry them.
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            let class = binship_pipeline::ErrorClass::from_exit_code(code)
                .unwrap_or(binship_pipeline::ErrorClass::Other);
            serde_json::json!({ "status": "error", "error": class.name(), "message": last_error })
        });
        let output = ToolOutput {
            status: if code == 0 { "ok" } else { "error" }.into(),
            exit_code: code,
            result,
        };
        let value = serde_json::to_value(&output).expect("serializes");
        // A failed command is a tool error (isError) that still carries its structured answer.
        Ok(if code == 0 {
            CallToolResult::structured(value)
        } else {
            CallToolResult::structured_error(value)
        })
    }
}

/// The tool's arguments as `T`: a missing or wrong-typed field is a JSON-RPC "invalid params"
/// error (-32602) naming it, never a crash.
fn args<T: serde::de::DeserializeOwned>(tool: &str, obj: JsonObject) -> Result<T, ErrorData> {
    serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| ErrorData::invalid_params(format!("{tool}: {e}"), None))
}

fn push_opt<T: ToString>(args: &mut Vec<String>, flag: &str, v: &Option<T>) {
    if let Some(v) = v {
        args.push(flag.into());
        args.push(v.to_string());
    }
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
        let mut args = vec!["list".to_string()];
        args.extend(a.app);
        self.run(args, None).await
    }

    #[tool(name = "build", input_schema = schema_for_type::<BuildArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Build, test and store a static binary version of an app (binship build --json). Reports progress while it builds.")]
    async fn build(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: BuildArgs = args("build", raw)?;
        let mut args = vec!["build".to_string(), a.app];
        args.extend(a.version.map(|v| v.to_string()));
        if a.force {
            args.push("--force".into());
        }
        self.run(args, Some((meta, peer))).await
    }

    #[tool(name = "scaffold", input_schema = schema_for_type::<ScaffoldArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Pack a stored, tested version into a minimal image (binship scaffold --json); without a version: current, else the latest.")]
    async fn scaffold(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: ScaffoldArgs = args("scaffold", raw)?;
        let mut args = vec!["scaffold".to_string(), a.app];
        push_opt(&mut args, "--version", &a.version);
        push_opt(&mut args, "--type", &a.container_type);
        push_opt(&mut args, "--format", &a.format);
        push_opt(&mut args, "--base", &a.base);
        push_opt(&mut args, "--output", &a.output);
        self.run(args, Some((meta, peer))).await
    }

    #[tool(name = "verify", input_schema = schema_for_type::<VerifyArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Verify a stored version (signatures, sha256, tests) or an image's signature (binship verify --json).")]
    async fn verify(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: VerifyArgs = args("verify", raw)?;
        let mut args = vec!["verify".to_string(), a.target];
        args.extend(a.version.map(|v| v.to_string()));
        self.run(args, None).await
    }

    #[tool(name = "deploy", input_schema = schema_for_type::<DeployArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Load the app's image into docker or podman, start it on the host network and wait until healthy (binship deploy --json).")]
    async fn deploy(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: DeployArgs = args("deploy", raw)?;
        let mut args = vec!["deploy".to_string(), a.app, "--to".into(), a.to];
        push_opt(&mut args, "--name", &a.name);
        push_opt(&mut args, "--port", &a.port);
        self.run(args, None).await
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
                .map(|e| binship_lifecycle::Promoted::new(&a.app, &e)),
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
        Ok(answer(binship_lifecycle::history(&self.store(), &a.app)))
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
        .map(|plans| binship_lifecycle::Collected::new(a.apply, plans));
        Ok(answer(r))
    }

    #[tool(name = "push", input_schema = schema_for_type::<PushArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Push a stored version's image (OCI, gzip) to a registry (binship push --json).")]
    async fn push(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: PushArgs = args("push", raw)?;
        let app = match a.version {
            Some(v) => format!("{}:{v}", a.app),
            None => a.app,
        };
        let mut args = vec!["push".to_string(), app, a.reference];
        if a.insecure {
            args.push("--insecure".into());
        }
        self.run(args, None).await
    }

    #[tool(name = "inspect", input_schema = schema_for_type::<InspectArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "An image's provenance: commit, dirty, toolchain, build command, tests, binary sha256 (binship inspect --json).")]
    async fn inspect(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: InspectArgs = args("inspect", raw)?;
        let mut args = vec!["inspect".to_string(), a.image];
        if a.insecure {
            args.push("--insecure".into());
        }
        self.run(args, None).await
    }

    #[tool(name = "sign", input_schema = schema_for_type::<SignArgs>(), output_schema = schema_for_output::<ToolOutput>(), description = "Sign a stored version with minisign: <binary>.minisig and test-results.json.minisig (binship sign --json).")]
    async fn sign(
        &self,
        Parameters(raw): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let a: SignArgs = args("sign", raw)?;
        let mut args = vec!["sign".to_string(), a.app];
        args.extend(a.version.map(|v| v.to_string()));
        push_opt(&mut args, "--key", &a.key);
        push_opt(&mut args, "--password-file", &a.password_file);
        self.run(args, None).await
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
pub fn serve(exe: PathBuf, store: Option<PathBuf>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let service = Binship::new(exe, store)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("starting the MCP server: {e}"))?;
        service.waiting().await.map_err(|e| e.to_string())?;
        Ok(())
    })
}
