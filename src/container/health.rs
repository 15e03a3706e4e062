//! Whether a deployment works: its unit active (for `Type=notify`, after
//! READY=1) and staying so, and, when it declares one, its health check
//! passing inside the container (the runtime's `exec`). Updates and
//! rollbacks wait for it; `containers list` shows it.

use super::state::Deployment;
use super::{Ctx, Name};
use crate::render::health::{HealthCheck, DEFAULT_DEADLINE};
use anyhow::{Context, Result};
use std::io::Read;
use std::time::{Duration, Instant};

/// How a deployment is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Active, and its check (if any) passes.
    Healthy,
    /// Not active, or its check fails: why.
    Unhealthy(String),
    /// No service to tell by (no unit, or `--root`).
    Unknown,
}

impl Health {
    /// As `containers list` shows it.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy(_) => "unhealthy",
            Health::Unknown => "-",
        }
    }
}

/// A deployment that did not become healthy in time: what failed (the
/// check's output, or the unit's last journal lines).
#[derive(Debug)]
pub struct Unhealthy(pub String);

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unhealthy {}

/// What an update or rollback waits for: `--no-health` turns it off,
/// `--health-timeout` bounds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gate {
    pub off: bool,
    /// Seconds; by default the check's start period and retries, else 30.
    pub timeout: Option<f64>,
}

/// How long a unit without a check must stay active, unrestarted, to count
/// as working: one that exits at start is seen failing or restarting by
/// then.
const SETTLE: Duration = Duration::from_secs(2);

/// The longest wait a check's own settings give; `--health-timeout` goes
/// beyond it.
const LONGEST_DEFAULT: f64 = 600.0;

/// How often the unit is looked at while waiting.
const POLL: Duration = Duration::from_millis(100);

/// The most a check's output is read.
const OUTPUT_LIMIT: u64 = 4096;

/// Waits until the deployment `info` of `name`, just (re)started, is
/// healthy, within the gate's deadline; an [`Unhealthy`] error says why
/// not. Its restart count starts at 0: systemd resets it on a start or
/// restart asked for.
pub fn wait(ctx: &Ctx, name: &Name, info: &Deployment, gate: &Gate) -> Result<()> {
    let restarts = 0;
    let Some(systemd) = ctx.target.systemd() else {
        return Ok(());
    };
    if gate.off || !info.has_container_service || info.staged() {
        return Ok(());
    }
    let unit = name.unit();
    let check = info.health_check.as_ref();
    let deadline = gate
        .timeout
        .unwrap_or_else(|| check.map_or(DEFAULT_DEADLINE, |c| c.deadline().min(LONGEST_DEFAULT)));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(deadline);
    let mut failures = 0u32;
    let mut last = String::from("it never became active");
    let mut next_check = started;
    let mut active_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let status = systemd.status(&unit)?;
        if status.restarts > restarts || status.active == "failed" {
            return Err(Unhealthy(format!(
                "{unit} {} (restarted {} times); {}",
                if status.active == "failed" {
                    "failed"
                } else {
                    "restarted"
                },
                status.restarts - restarts.min(status.restarts),
                systemd.journal_tail(&unit)
            ))
            .into());
        }
        if status.active == "active" {
            let since = *active_since.get_or_insert(now);
            match check {
                None if now.duration_since(since) >= SETTLE => return Ok(()),
                None => last = format!("{unit} is active"),
                Some(c) if now >= next_check => {
                    next_check = now + Duration::from_secs_f64(c.interval);
                    let left = until
                        .saturating_duration_since(now)
                        .max(Duration::from_millis(100));
                    match run_check(ctx, name, &info.runtime, c, left)? {
                        Ok(()) => return Ok(()),
                        Err(out) => {
                            last = format!("its health check {:?} failed: {out}", c.command);
                            let in_start =
                                now.duration_since(started).as_secs_f64() < c.start_period;
                            if !in_start {
                                failures += 1;
                                if failures >= c.retries.max(1) {
                                    return Err(
                                        Unhealthy(format!("{last} ({failures} times)")).into()
                                    );
                                }
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        } else {
            active_since = None;
            last = format!("{unit} is {} ({})", status.active, status.sub);
        }
        if Instant::now() >= until {
            return Err(Unhealthy(format!("not healthy within {deadline} s: {last}")).into());
        }
        let wake = match (check, active_since) {
            (Some(_), Some(_)) => next_check.min(until),
            _ => Instant::now() + POLL,
        };
        std::thread::sleep(
            wake.saturating_duration_since(Instant::now())
                .min(POLL * 10)
                .max(Duration::from_millis(10)),
        );
    }
}

/// How the active deployment `info` of `name` is doing now: for
/// `containers list`.
pub fn now(ctx: &Ctx, name: &Name, info: &Deployment, state: &str) -> Result<Health> {
    let Some(systemd) = ctx.target.systemd() else {
        return Ok(Health::Unknown);
    };
    if !info.has_container_service {
        return Ok(Health::Unknown);
    }
    // A socket-activated service waiting for its first connection.
    if state == "inactive" && info.has_socket && systemd.state(&name.socket())? == "active" {
        return Ok(Health::Healthy);
    }
    if state != "running" {
        return Ok(Health::Unhealthy(format!("{} is {state}", name.unit())));
    }
    match &info.health_check {
        None => Ok(Health::Healthy),
        Some(c) => Ok(
            match run_check(
                ctx,
                name,
                &info.runtime,
                c,
                Duration::from_secs_f64(c.timeout),
            )? {
                Ok(()) => Health::Healthy,
                Err(out) => Health::Unhealthy(out),
            },
        ),
    }
}

/// Runs the check once inside the running container, within its timeout
/// (and `within`, what is left of the caller's deadline): Ok(Ok) when it
/// passes, Ok(Err(what it said)) when it fails. Its output goes to a file,
/// not a pipe, so a process it leaves behind holds nothing the tool waits
/// for; on timeout the check itself is killed, not only the runtime's
/// client.
fn run_check(
    ctx: &Ctx,
    name: &Name,
    runtime: &str,
    check: &HealthCheck,
    within: Duration,
) -> Result<std::result::Result<(), String>> {
    let scratch = ctx.layout.run_scratch(name)?;
    let out_path = scratch.path().join("out");
    let pid_path = scratch.path().join("pid");
    let out = std::fs::File::create(&out_path)
        .with_context(|| format!("creating {}", out_path.display()))?;
    let err = out
        .try_clone()
        .context("duplicating the check's output file")?;
    let mut child = ctx
        .runtime_command(runtime)
        .arg("exec")
        .arg("--pid-file")
        .arg(&pid_path)
        .arg(name.as_str())
        .args(&check.command)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("running {runtime} exec {name} for its health check"))?;
    let limit = Duration::from_secs_f64(check.timeout).min(within);
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for the health check")? {
            break Some(s);
        }
        if Instant::now() >= until {
            // The check inside the container, then the runtime's client.
            if let Some(pid) = std::fs::read_to_string(&pid_path)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .filter(|p| *p > 1)
            {
                // SAFETY: kill(2) of the check's process, by the pid the
                // runtime wrote for it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut said = Vec::new();
    if let Ok(f) = std::fs::File::open(&out_path) {
        let _ = f.take(OUTPUT_LIMIT).read_to_end(&mut said);
    }
    let said: String = String::from_utf8_lossy(&said)
        .trim()
        .chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect();
    Ok(match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{s}: {}", said.replace('\n', " | "))),
        None => Err(format!(
            "no answer within {} s",
            (limit.as_secs_f64() * 10.0).round() / 10.0
        )),
    })
}
