//! One registry's HTTP client, [`Client`]: picks the scheme (HTTPS with rustls and the system
//! roots; plain HTTP only for loopback registries or `--insecure`, as docker does), answers auth
//! challenges from docker's config, and retries what failed in transit with backoff.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Reference, RegistryError};

/// How often and how patiently a request that failed in transit (connection refused or cut,
/// timeout, 429, 502/503/504) is tried again: `attempts` in all, the wait doubling from `base`.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    /// The longest `Retry-After` (RFC 9110 section 10.2.3) binship waits for; a registry
    /// asking for more fails the request at once, naming the wait.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 4,
            base: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3), as the time
/// to wait from now (a date in the past: none).
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl Retry {
    /// The wait before attempt `n` (1-based; attempt 1 does not wait).
    pub fn delay(&self, n: u32) -> Duration {
        self.base * 2u32.saturating_pow(n.saturating_sub(2))
    }
}

/// `user:password` (base64) for `registry` from docker's config, if any.
pub fn docker_auth(registry: &str) -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
    let auths = cfg["auths"].as_object()?;
    [
        registry.to_string(),
        format!("http://{registry}"),
        format!("https://{registry}"),
    ]
    .iter()
    .find_map(|k| auths.get(k)?["auth"].as_str().map(str::to_string))
}

/// Parses `Bearer realm="...",service="...",scope="..."` (or Basic) into its scheme and params.
fn challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = Vec::new();
    // Values are quoted and may hold commas (scope="repository:a:pull,push").
    let mut rest = rest.trim();
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, tail) = match v.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => v.split_once(',').unwrap_or((v, "")),
        };
        params.push((k, val.to_string()));
        rest = tail.trim_start_matches(',').trim();
    }
    (scheme.to_ascii_lowercase(), params)
}

const NO_CREDENTIALS: &str =
    "401 Unauthorized: no credentials for this registry in $DOCKER_CONFIG/config.json (docker login)";

/// A request body: nothing, bytes (can be sent again), or a stream of `len` bytes (sent once).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

/// What went wrong with one request.
enum Failure {
    /// Worth another try: the connection failed or the registry said "later" (and, with a
    /// `Retry-After`, how much later).
    Transient(String),
    Later(String, Duration),
    Fatal(RegistryError),
}

/// An HTTP client for one registry that answers auth challenges and keeps the answer.
pub struct Client {
    agent: ureq::Agent,
    registry: String,
    /// `https://host:port` or `http://host:port`.
    origin: String,
    authorization: Option<String>,
    pub retry: Retry,
    /// Set (by a Ctrl-C handler) to stop: no new attempt starts, a wait and a blob read end.
    pub(crate) stop: Option<Arc<AtomicBool>>,
}

/// The variable that sets [`idle_timeout`].
pub const TIMEOUT_ENV: &str = "BINSHIP_REGISTRY_TIMEOUT";

/// How long one read or write on a registry connection may wait for the other side:
/// `$BINSHIP_REGISTRY_TIMEOUT` seconds (1..=3600), default 30. A registry that accepts a
/// connection and never answers fails the attempt after this long (then it is retried).
///
/// # Errors
/// The variable is not a whole number of seconds in that range (the message names it).
pub fn idle_timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_ENV) {
        Err(_) => Ok(Duration::from_secs(30)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n @ 1..=3600) => Ok(Duration::from_secs(n)),
            _ => Err(format!(
                "${TIMEOUT_ENV}: `{v}` is not a number of seconds from 1 to 3600"
            )),
        },
    }
}

fn agent(verify: bool, idle: Duration) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .disable_verification(!verify)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(idle.min(Duration::from_secs(10))))
        .timeout_per_read(Some(idle))
        .timeout_per_write(Some(idle))
        .timeout_global(Some(Duration::from_secs(3600)))
        .proxy(None)
        .max_redirects(0)
        .tls_config(tls)
        .build()
        .into()
}

pub(crate) fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Client {
    /// A client for `r`'s registry. HTTPS with the system roots (`SSL_CERT_FILE` adds a CA);
    /// for a loopback registry or `insecure`, HTTPS is tried first and plain HTTP used when the
    /// registry does not speak TLS; `insecure` also accepts any certificate.
    ///
    /// # Errors
    /// Http: `$BINSHIP_REGISTRY_TIMEOUT` is not valid ([`idle_timeout`]); a certificate the
    /// system does not trust.
    pub fn new(r: &Reference, insecure: bool) -> Result<Client, RegistryError> {
        let idle = idle_timeout().map_err(|m| RegistryError::Http {
            registry: r.registry.clone(),
            message: m,
        })?;
        let mut c = Client {
            agent: agent(!insecure, idle),
            registry: r.registry.clone(),
            origin: format!("https://{}", r.registry),
            authorization: None,
            retry: Retry::default(),
            stop: None,
        };
        if r.plain_allowed(insecure) {
            let url = format!("{}/v2/", c.origin);
            match c.agent.get(&url).call() {
                Ok(_) => {}
                Err(e) => {
                    let m = e.to_string();
                    if m.contains("certificate") && !insecure {
                        return Err(c.err(format!(
                            "TLS: {m} (trust its CA with SSL_CERT_FILE, or pass --insecure)"
                        )));
                    }
                    c.origin = format!("http://{}", r.registry);
                }
            }
        }
        Ok(c)
    }

    /// Whether the stop flag is set.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// [`RegistryError::Interrupted`] when the stop flag is set.
    pub(crate) fn check_stop(&self) -> Result<(), RegistryError> {
        if self.stopped() {
            Err(RegistryError::Interrupted {
                registry: self.registry.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// Sleeps `d`, or less when the stop flag is set meanwhile.
    pub(crate) fn pause(&self, d: Duration) {
        let end = std::time::Instant::now() + d;
        while !self.stopped() {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    pub fn err(&self, m: String) -> RegistryError {
        RegistryError::Http {
            registry: self.registry.clone(),
            message: m,
        }
    }

    /// GET of an absolute URL elsewhere (a blob store a registry redirected to), through this
    /// client's TLS settings and timeouts but without its credentials.
    pub fn get_elsewhere(
        &self,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.agent.get(url).call()
    }

    /// `r` when it has the `want` status, else "`what` answered 500: <the registry's message>".
    pub fn expect(
        &self,
        r: ureq::http::Response<ureq::Body>,
        want: u16,
        what: impl FnOnce() -> String,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let status = r.status().as_u16();
        if status == want {
            return Ok(r);
        }
        Err(self.err(format!("{} answered {status}{}", what(), error_detail(r))))
    }

    /// An absolute URL for `path` (`/v2/...`), or `path` itself when it already is one.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.origin)
        }
    }

    /// Sends a request, answering one auth challenge, and retries transient failures with
    /// backoff. A [`Body::Stream`] is sent once (the caller retries the whole upload).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        mut body: Body<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let url = self.url(path);
        let replayable = !matches!(body, Body::Stream(..));
        let mut last = String::new();
        let mut asked = Duration::ZERO;
        for n in 1..=self.retry.attempts {
            if n > 1 {
                self.pause(self.retry.delay(n).max(asked));
            }
            self.check_stop()?;
            asked = Duration::ZERO;
            match self.once(method, &url, headers, &mut body) {
                Ok(r) => return Ok(r),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Later(m, wait)) if wait > self.retry.max_wait => {
                    return Err(self.err(format!(
                        "{m} and asks to wait {} s (Retry-After), more than binship waits ({} s); try again later",
                        wait.as_secs(),
                        self.retry.max_wait.as_secs()
                    )));
                }
                Err(Failure::Later(m, wait)) => {
                    last = m;
                    asked = wait;
                    if !replayable {
                        break;
                    }
                }
                Err(Failure::Transient(m)) => {
                    last = m;
                    if !replayable {
                        break;
                    }
                }
            }
        }
        let path = url.splitn(4, '/').nth(3).unwrap_or(&url);
        Err(RegistryError::Unreachable {
            registry: self.registry.clone(),
            request: format!("{method} /{path}"),
            message: last,
            attempts: if replayable { self.retry.attempts } else { 1 },
        })
    }

    fn once(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &mut Body<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, Failure> {
        for attempt in 0..2 {
            let mut b = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            if let Some(a) = &self.authorization {
                b = b.header("Authorization", a.as_str());
            }
            let sent = match body {
                Body::Empty => b.body(ureq::SendBody::none()).map(|r| self.agent.run(r)),
                Body::Bytes(bytes) => b.body(*bytes).map(|r| self.agent.run(r)),
                Body::Stream(reader, len) => b
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(*reader))
                    .map(|r| self.agent.run(r)),
            };
            let resp = match sent {
                Err(e) => return Err(Failure::Fatal(self.err(e.to_string()))),
                Ok(Err(e)) => {
                    return Err(match &e {
                        ureq::Error::Timeout(t) => Failure::Transient(format!(
                            "timed out ({t}: no answer within the {TIMEOUT_ENV} limit)"
                        )),
                        ureq::Error::Io(_)
                        | ureq::Error::ConnectionFailed
                        | ureq::Error::HostNotFound
                        | ureq::Error::Protocol(_) => Failure::Transient(e.to_string()),
                        _ => Failure::Fatal(self.err(format!("{method} {url}: {e}"))),
                    })
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            if matches!(status, 429 | 502 | 503 | 504) {
                let m = format!("the registry answered {status}");
                return Err(
                    match header(&resp, "retry-after").and_then(|v| retry_after(&v)) {
                        Some(wait) => Failure::Later(m, wait),
                        None => Failure::Transient(m),
                    },
                );
            }
            let streamed = matches!(body, Body::Stream(..));
            if status == 401 && streamed && attempt == 0 {
                // A bearer token that expired while a blob was being sent: a stream cannot be
                // sent again, so fetch a new token and let the upload start over with it.
                let h = header(&resp, "www-authenticate").unwrap_or_default();
                let bearer = self
                    .authorization
                    .as_deref()
                    .is_some_and(|a| a.starts_with("Bearer "));
                if bearer && h.contains("invalid_token") {
                    self.authorization = Some(self.answer(&h).map_err(Failure::Fatal)?);
                    return Err(Failure::Transient(
                        "the registry's token expired during the upload; a new one was fetched"
                            .into(),
                    ));
                }
            }
            if status != 401 || attempt == 1 || streamed {
                if status == 401 {
                    return Err(Failure::Fatal(self.err(if self.authorization.is_some() {
                        "401 Unauthorized: the registry refused the credentials in docker's config.json".into()
                    } else {
                        NO_CREDENTIALS.into()
                    })));
                }
                return Ok(resp);
            }
            let h = header(&resp, "www-authenticate").unwrap_or_default();
            self.authorization = Some(self.answer(&h).map_err(Failure::Fatal)?);
        }
        unreachable!("two attempts return")
    }

    /// The Authorization header answering a `WWW-Authenticate` challenge.
    fn answer(&self, h: &str) -> Result<String, RegistryError> {
        let creds = docker_auth(&self.registry);
        let (scheme, params) = challenge(h);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        match scheme.as_str() {
            "basic" => Ok(format!(
                "Basic {}",
                creds.ok_or_else(|| self.err(NO_CREDENTIALS.into()))?
            )),
            "bearer" => {
                let realm = get("realm");
                let mut req = self.agent.get(&realm);
                // Percent-encoded by ureq: services and scopes may hold spaces, `:` and `,`.
                for k in ["service", "scope"] {
                    let v = get(k);
                    if !v.is_empty() {
                        req = req.query(k, &v);
                    }
                }
                // Anonymous tokens are fine where the registry allows anonymous pulls.
                if let Some(c) = &creds {
                    req = req.header("Authorization", &format!("Basic {c}"));
                }
                let mut r = req
                    .call()
                    .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                if !r.status().is_success() {
                    return Err(self.err(format!(
                        "token {realm} answered {}: {}",
                        r.status().as_u16(),
                        if creds.is_some() {
                            "wrong credentials?"
                        } else {
                            NO_CREDENTIALS
                        }
                    )));
                }
                let text = r
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                let t: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| self.err(format!("token {realm}: {e}")))?;
                let token = t["token"]
                    .as_str()
                    .or(t["access_token"].as_str())
                    .unwrap_or_default();
                Ok(format!("Bearer {token}"))
            }
            other => Err(self.err(format!("unsupported auth scheme `{other}`"))),
        }
    }
}

/// The registry's error message (`{"errors":[{"message":...}]}`), if it sent one.
fn error_detail(mut r: ureq::http::Response<ureq::Body>) -> String {
    let text = r
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|e| {
                e.iter()
                    .filter_map(|x| x["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_commas_inside_quotes() {
        let (s, p) = challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "reg".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        assert_eq!(challenge(r#"Basic realm="x""#).0, "basic");
    }

    #[test]
    fn backoff_doubles() {
        let r = Retry {
            attempts: 4,
            base: Duration::from_millis(100),
            ..Retry::default()
        };
        assert_eq!(
            (2..=4).map(|n| r.delay(n).as_millis()).collect::<Vec<_>>(),
            vec![100, 200, 400]
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let w = retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            w > Duration::from_secs(110) && w <= Duration::from_secs(120),
            "{w:?}"
        );
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("-5"), None);
    }
}
