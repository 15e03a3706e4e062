//! The OCI distribution API over HTTP, as a pull uses it: the registry's
//! challenge answered with a bearer token or basic credentials; manifests,
//! configs, token and error bodies streamed with a size cap and refused
//! before they are parsed, each request within a total deadline; layers
//! streamed, failing when they arrive slower than a minimum rate. Every
//! bound is configurable and named in the error it causes.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bounds of a pull's requests, from the environment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest one metadata request (manifest, config, token,
    /// signature) may take, body included: `ATOMIC_METADATA_DEADLINE`
    /// seconds, 60 by default.
    pub deadline: Duration,
    /// The longest the registry may send nothing: `ATOMIC_READ_TIMEOUT`
    /// seconds, 60 by default.
    pub read_timeout: Duration,
    /// The slowest a layer may arrive, in bytes per second over any
    /// `rate_window`: `ATOMIC_MIN_RATE`, 1024 by default (0: no minimum).
    pub min_rate: u64,
    /// The span over which a layer's rate is measured:
    /// `ATOMIC_MIN_RATE_WINDOW` seconds, 30 by default.
    pub rate_window: Duration,
}

/// The largest error body kept for a message.
/// The largest token answer read: a few fields of JSON, capped like any
/// metadata.
const TOKEN_LIMIT: u64 = 4 << 20;

const ERROR_BODY_LIMIT: u64 = 4096;

impl Limits {
    pub fn from_env() -> Result<Limits> {
        let secs = |var: &str, default: f64| -> Result<Duration> {
            match std::env::var(var) {
                Ok(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| anyhow!("{var}={v} is not a positive number of seconds")),
                Err(_) => Ok(Duration::from_secs_f64(default)),
            }
        };
        let min_rate = match std::env::var("ATOMIC_MIN_RATE") {
            Ok(v) => v
                .parse()
                .map_err(|_| anyhow!("ATOMIC_MIN_RATE={v} is not a number of bytes per second"))?,
            Err(_) => 1024,
        };
        Ok(Limits {
            deadline: secs("ATOMIC_METADATA_DEADLINE", 60.0)?,
            read_timeout: secs("ATOMIC_READ_TIMEOUT", 60.0)?,
            min_rate,
            rate_window: secs("ATOMIC_MIN_RATE_WINDOW", 30.0)?,
        })
    }
}

/// One repository of one registry, with the credentials to offer it.
pub struct Session {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    client: reqwest::Client,
    /// `https://HOST` (or `http://` for an insecure registry).
    base: String,
    registry: String,
    repository: String,
    creds: Option<(String, String)>,
    /// The bearer token the registry's token service gave, once asked.
    token: Mutex<Option<String>>,
    limits: Limits,
}

/// What the registry's `WWW-Authenticate` challenge asks for.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

impl Session {
    pub fn new(
        registry: &str,
        repository: &str,
        insecure: bool,
        creds: Option<(String, String)>,
        limits: Limits,
    ) -> Result<Session> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the HTTP client's runtime")?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            // Per read: how long the registry may send nothing.
            .read_timeout(limits.read_timeout)
            .build()
            .context("setting up the HTTP client")?;
        // docker.io's API lives on another host, as the containers tools know.
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        Ok(Session {
            rt: std::sync::Arc::new(rt),
            client,
            base: format!("{}://{host}", if insecure { "http" } else { "https" }),
            registry: registry.to_string(),
            repository: repository.to_string(),
            creds,
            token: Mutex::new(None),
            limits,
        })
    }

    /// Runs one metadata request, `f`, within the deadline.
    fn within<T>(&self, what: &str, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.rt
            .block_on(async { tokio::time::timeout(self.limits.deadline, f).await })
            .map_err(|_| deadline_error(&self.limits, what))?
    }

    /// The manifest `reference` (a tag or digest), at most `cap` bytes,
    /// with the media types `accept`; None when the registry has none.
    pub fn manifest(&self, reference: &str, accept: &[&str], cap: u64) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let what = format!(
            "the manifest {reference} of {}/{}",
            self.registry, self.repository
        );
        self.within(&what, async {
            match self.get(&url, &accept.join(", "), &what).await? {
                Some(resp) => Ok(Some(capped(resp, cap, &what).await?)),
                None => Ok(None),
            }
        })
    }

    /// The blob `digest`, at most `cap` bytes, within the deadline (a
    /// config, a signature payload); the caller checks its digest.
    pub fn small_blob(&self, digest: &str, cap: u64) -> Result<Vec<u8>> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let what = format!("blob {digest} of {}/{}", self.registry, self.repository);
        self.within(&what, async {
            let resp = self
                .get(&url, "*/*", &what)
                .await?
                .ok_or_else(|| anyhow!("the registry has no {what}"))?;
            capped(resp, cap, &what).await
        })
    }

    /// The blob `digest` as a blocking stream, failing when it arrives
    /// slower than the minimum rate or nothing comes for the read timeout.
    /// The stream's task waits for room in its channel, so a stream opened
    /// ahead and not read yet holds no runtime thread.
    pub fn blob(&self, digest: &str) -> Result<Box<dyn Read + Send>> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let what = format!("blob {digest} of {}/{}", self.registry, self.repository);
        // The answer's head within the deadline; the body by its rate.
        let mut resp = self.within(&what, async {
            self.get(&url, "*/*", &what)
                .await?
                .ok_or_else(|| anyhow!("the registry has no {what}"))
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(32);
        let limits = self.limits;
        self.rt.spawn(async move {
            let mut window_start = Instant::now();
            let mut window_bytes = 0u64;
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx
                            .send(Err(std::io::Error::other(format!(
                                "fetching {what}: {}",
                                chain(&e)
                            ))))
                            .await;
                        return;
                    }
                };
                window_bytes += chunk.len() as u64;
                let elapsed = window_start.elapsed();
                if elapsed >= limits.rate_window {
                    let rate = window_bytes as f64 / elapsed.as_secs_f64();
                    if rate < limits.min_rate as f64 {
                        let _ = tx
                            .send(Err(std::io::Error::other(format!(
                                "fetching {what}: {rate:.0} bytes/s over {:.0} s, slower than the minimum of {} (ATOMIC_MIN_RATE, ATOMIC_MIN_RATE_WINDOW)",
                                elapsed.as_secs_f64(),
                                limits.min_rate
                            ))))
                            .await;
                        return;
                    }
                    window_start = Instant::now();
                    window_bytes = 0;
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Box::new(ChannelReader {
            rx,
            current: bytes::Bytes::new(),
            _rt: self.rt.clone(),
        }))
    }

    /// GETs `url`, answering one authentication challenge; None on 404.
    async fn get(&self, url: &str, accept: &str, what: &str) -> Result<Option<reqwest::Response>> {
        let mut answered = false;
        loop {
            let mut req = self.client.get(url).header(reqwest::header::ACCEPT, accept);
            let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
            req = match (token, &self.creds) {
                (Some(token), _) => req.bearer_auth(token),
                (None, Some((u, p))) if answered => req.basic_auth(u, Some(p)),
                _ => req,
            };
            let resp = req
                .send()
                .await
                .map_err(|e| anyhow!("fetching {what}: {}", chain(&e)))?;
            let status = resp.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !answered {
                let challenge = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                match challenge {
                    Some(Challenge::Bearer {
                        realm,
                        service,
                        scope,
                    }) => {
                        // Credentials go over TLS when the registry is.
                        if self.base.starts_with("https://") && !realm.starts_with("https://") {
                            bail!("fetching {what}: the registry {} sends for its token to {realm}, not over https; not sending credentials there", self.registry);
                        }
                        let token = self.token(&realm, service, scope).await?;
                        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
                    }
                    Some(Challenge::Basic) if self.creds.is_some() => {}
                    _ => bail!("{}", self.refused(resp, what).await),
                }
                answered = true;
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                bail!("{}", self.refused(resp, what).await);
            }
            return Ok(Some(resp));
        }
    }

    /// Asks the token service at `realm` for a pull token, with the
    /// credentials if there are any.
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<String> {
        let what = format!("a token for {} from {realm}", self.registry);
        let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        let mut query = vec![("scope", scope)];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut req = self.client.get(realm).query(&query);
        if let Some((u, p)) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow!("fetching {what}: {}", chain(&e)))?;
        if !resp.status().is_success() {
            bail!("{}", self.refused(resp, &what).await);
        }
        let body = capped(resp, TOKEN_LIMIT, &what).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("parsing {what}"))?;
        v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{what}: the answer holds no token"))
    }

    /// The sentence for a refused request: the status, and the start of
    /// the body the registry sent with it.
    async fn refused(&self, resp: reqwest::Response, what: &str) -> String {
        let status = resp.status();
        let body = capped(resp, ERROR_BODY_LIMIT, what)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let body: String = body.chars().filter(|c| !c.is_control()).take(300).collect();
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
            match &self.creds {
                Some((u, _)) => format!(" (credentials of {u} for {} refused)", self.registry),
                None => format!(" (no credentials for {})", self.registry),
            }
        } else {
            String::new()
        };
        format!("fetching {what}: HTTP {status}{hint}: {body}")
    }
}

/// Reads `resp`'s body, refusing it past `cap` bytes.
async fn capped(mut resp: reqwest::Response, cap: u64, what: &str) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|l| l > cap) {
        bail!("{what} is larger than {cap} bytes; not reading it");
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| anyhow!("reading {what}: {}", chain(&e)))?
    {
        if (out.len() + chunk.len()) as u64 > cap {
            bail!("{what} is larger than {cap} bytes; not reading it");
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A blocking reader fed by a body's task on the runtime.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
    /// The runtime lives as long as a stream from it.
    _rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

fn deadline_error(limits: &Limits, what: &str) -> anyhow::Error {
    anyhow!(
        "fetching {what}: not done within {} s (ATOMIC_METADATA_DEADLINE)",
        limits.deadline.as_secs_f64()
    )
}

/// An error and its sources, as one line (the HTTP client leaves the
/// cause, a timeout, to its sources).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}

/// Parses a `WWW-Authenticate` header: `Bearer realm="…",service="…",
/// scope="…"` or `Basic realm="…"`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = std::collections::HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key, value.to_string());
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    let realm = params.remove("realm")?;
    if !realm.starts_with("https://") && !realm.starts_with("http://") {
        return None;
    }
    Some(Challenge::Bearer {
        realm,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="atomic-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="https://a/t", scope="repository:x,y:pull""#),
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: None,
                scope: Some("repository:x,y:pull".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Bearer realm="file:///etc/x""#), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }
}
