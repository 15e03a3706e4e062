//! systemd over D-Bus (`org.freedesktop.systemd1`): reload, enable, disable,
//! start and stop units, waiting for each job to finish within a bound, and
//! unit states.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

/// A job systemd runs on a unit.
#[derive(Debug, Clone, Copy)]
enum Job {
    Start,
    Stop,
    Restart,
}

/// A unit's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatusNow {
    /// `active`, `activating`, `failed`, `inactive`...
    pub active: String,
    /// `running`, `auto-restart`, `exited`...
    pub sub: String,
    /// How often systemd restarted it (`Restart=`).
    pub restarts: u32,
}

/// A connection to the system's service manager, or to a user's own.
pub struct Systemd {
    conn: Connection,
    manager: Proxy<'static>,
    /// A user's manager (`systemd --user`).
    user: bool,
}

/// How much longer than the unit's own timeout a job is waited for: systemd
/// ends the job itself when that timeout passes.
const JOB_MARGIN: Duration = Duration::from_secs(10);

/// The wait for a unit whose own timeout is infinite.
const JOB_WAIT_UNBOUNDED_UNIT: Duration = Duration::from_secs(900);

/// How many journal lines a failed start shows.
const JOURNAL_LINES: &str = "10";

/// `ATOMIC_JOB_TIMEOUT` in seconds, when set.
fn job_timeout_override() -> Result<Option<Duration>> {
    match std::env::var("ATOMIC_JOB_TIMEOUT") {
        Ok(v) => {
            let secs: f64 = v
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| anyhow!("ATOMIC_JOB_TIMEOUT={v} is not a number of seconds"))?;
            Ok(Some(Duration::from_secs_f64(secs)))
        }
        Err(_) => Ok(None),
    }
}

/// The last lines of `unit`'s journal, indented, or why there are none.
fn journal_tail(unit: &str, user: bool) -> String {
    let which = if user { "--user-unit" } else { "--unit" };
    let out = std::process::Command::new("journalctl")
        .args(["--no-pager", "-o", "cat", "-n", JOURNAL_LINES, which, unit])
        .env("LC_ALL", "C")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let lines: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    // What a container printed may carry terminal escapes.
                    let shown: String = l
                        .chars()
                        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                        .collect();
                    format!("  {shown}")
                })
                .collect();
            if lines.is_empty() {
                format!("the journal has no lines of {unit}")
            } else {
                format!("last lines of its journal:\n{}", lines.join("\n"))
            }
        }
        Ok(o) => format!(
            "journalctl -u {unit} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run journalctl: {e}"),
    }
}

/// `ListUnitsByNames` entries: name, description, load, active, sub, ...
type UnitStatus = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

impl Systemd {
    pub fn connect() -> Result<Systemd> {
        let conn =
            Connection::system().context("connecting to the system D-Bus (is systemd running?)")?;
        Self::on(conn, false)
    }

    /// The user's own manager, on their session bus at `address`.
    pub fn connect_user(address: &str) -> Result<Systemd> {
        let conn = zbus::blocking::connection::Builder::address(address)
            .and_then(|b| b.build())
            .with_context(|| {
                format!("connecting to your session D-Bus at {address} (is your systemd --user running? `loginctl enable-linger` starts it)")
            })?;
        Self::on(conn, true)
    }

    fn on(conn: Connection, user: bool) -> Result<Systemd> {
        let manager = Proxy::new(
            &conn,
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
        )
        .context("reaching systemd over D-Bus")?;
        manager
            .call_method("Subscribe", &())
            .context("subscribing to systemd job events")?;
        Ok(Systemd {
            conn,
            manager,
            user,
        })
    }

    /// A property of `unit` on `interface`.
    fn unit_property<T>(&self, unit: &str, interface: &'static str, name: &str) -> Result<T>
    where
        T: TryFrom<zbus::zvariant::OwnedValue>,
        T::Error: Into<zbus::Error>,
    {
        let path: OwnedObjectPath = self
            .manager
            .call("LoadUnit", &(unit,))
            .with_context(|| format!("asking systemd for {unit}"))?;
        let proxy = Proxy::new(&self.conn, "org.freedesktop.systemd1", path, interface)
            .with_context(|| format!("reaching {unit} over D-Bus"))?;
        proxy
            .get_property(name)
            .with_context(|| format!("reading {name} of {unit}"))
    }

    /// How long to wait for a start or stop job of `unit`:
    /// `ATOMIC_JOB_TIMEOUT`, else the unit's own timeout and a margin.
    fn job_bound(&self, unit: &str, start: bool) -> Result<Duration> {
        if let Some(d) = job_timeout_override()? {
            return Ok(d);
        }
        let property = if start {
            "TimeoutStartUSec"
        } else {
            "TimeoutStopUSec"
        };
        let usec: u64 = self
            .unit_property(unit, "org.freedesktop.systemd1.Service", property)
            .unwrap_or(u64::MAX);
        Ok(match usec {
            u64::MAX | 0 => JOB_WAIT_UNBOUNDED_UNIT,
            us => Duration::from_micros(us) + JOB_MARGIN,
        })
    }

    /// `systemctl daemon-reload`.
    pub fn reload(&self) -> Result<()> {
        self.manager
            .call_method("Reload", &())
            .context("reloading systemd units")?;
        Ok(())
    }

    /// `systemctl enable UNIT`, without `--force`: a link that exists and
    /// is not this unit's is an error, not replaced.
    pub fn enable(&self, unit: &str) -> Result<()> {
        self.manager
            .call_method("EnableUnitFiles", &(vec![unit], false, false))
            .with_context(|| format!("enabling {unit}"))?;
        Ok(())
    }

    /// The unit file state of `unit` (`enabled`, `static`, `masked`...), or
    /// None when systemd has no unit file of that name.
    pub fn unit_file_state(&self, unit: &str) -> Result<Option<String>> {
        match self
            .manager
            .call::<_, _, String>("GetUnitFileState", &(unit,))
        {
            Ok(state) => Ok(Some(state)),
            Err(zbus::Error::MethodError(name, _, _))
                if matches!(
                    name.as_str(),
                    "org.freedesktop.systemd1.NoSuchUnit"
                        | "org.freedesktop.DBus.Error.FileNotFound"
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("asking systemd about {unit}")),
        }
    }

    /// `systemctl disable UNIT`.
    pub fn disable(&self, unit: &str) -> Result<()> {
        self.manager
            .call_method("DisableUnitFiles", &(vec![unit], false))
            .with_context(|| format!("disabling {unit}"))?;
        Ok(())
    }

    /// Queues a start or stop job of `unit` and waits, within a bound, for
    /// systemd to finish it. A job that did not end `done` is an error
    /// naming the unit, the job's result, the unit's state and result, and
    /// the last lines of its journal.
    fn job(&self, kind: Job, unit: &str) -> Result<()> {
        let (method, verb) = match kind {
            Job::Start => ("StartUnit", "start"),
            Job::Stop => ("StopUnit", "stop"),
            Job::Restart => ("RestartUnit", "restart"),
        };
        let bound = match kind {
            Job::Start => self.job_bound(unit, true)?,
            Job::Stop => self.job_bound(unit, false)?,
            Job::Restart => self.job_bound(unit, false)? + self.job_bound(unit, true)?,
        };
        let removed = self
            .manager
            .receive_signal("JobRemoved")
            .context("listening for systemd job events")?;
        let job: OwnedObjectPath = self
            .manager
            .call(method, &(unit, "replace"))
            .with_context(|| format!("{method} {unit}"))?;
        // The signal stream blocks; a thread forwards it so that the wait
        // can end at the bound.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for msg in removed {
                let ended: zbus::Result<(u32, OwnedObjectPath, String, String)> =
                    msg.body().deserialize();
                if tx.send(ended).is_err() {
                    return;
                }
            }
        });
        let deadline = std::time::Instant::now() + bound;
        let result = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok((_, path, _, result))) if path == job => break result,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e).context("reading a systemd job event"),
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "{unit} did not finish its {verb} within {} s; systemd goes on with it \
                     (ATOMIC_JOB_TIMEOUT sets the wait); {}",
                    bound.as_secs_f64().round(),
                    journal_tail(unit, self.user)
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("lost the connection to systemd while waiting for {unit}")
                }
            }
        };
        if result == "done" {
            return Ok(());
        }
        let state = self.state(unit).unwrap_or_else(|_| "unknown".into());
        let outcome: String = self
            .unit_property(unit, "org.freedesktop.systemd1.Service", "Result")
            .unwrap_or_else(|_| "unknown".into());
        bail!(
            "{unit} failed to {verb}: job {result}, unit {state}, result {outcome}; {}",
            journal_tail(unit, self.user)
        )
    }

    /// `systemctl start UNIT`, waiting for the job.
    pub fn start(&self, unit: &str) -> Result<()> {
        self.job(Job::Start, unit)
    }

    /// `systemctl stop UNIT`, waiting for the job.
    pub fn stop(&self, unit: &str) -> Result<()> {
        self.job(Job::Stop, unit)
    }

    /// `systemctl restart UNIT`, waiting for the job: one job, so that a
    /// socket activating the unit holds its connections meanwhile.
    pub fn restart(&self, unit: &str) -> Result<()> {
        self.job(Job::Restart, unit)
    }

    /// How `unit` is doing: its active and sub state, how often systemd
    /// restarted it, and its main process.
    pub fn status(&self, unit: &str) -> Result<UnitStatusNow> {
        let path: OwnedObjectPath = self
            .manager
            .call("LoadUnit", &(unit,))
            .with_context(|| format!("loading {unit}"))?;
        let read = |interface: &str, name: &str| -> Result<zbus::zvariant::OwnedValue> {
            let proxy = Proxy::new(
                &self.conn,
                "org.freedesktop.systemd1",
                path.clone(),
                interface.to_string(),
            )
            .with_context(|| format!("reaching {unit} over D-Bus"))?;
            proxy
                .get_property(name)
                .with_context(|| format!("reading {name} of {unit}"))
        };
        let unit_if = "org.freedesktop.systemd1.Unit";
        let service_if = "org.freedesktop.systemd1.Service";
        Ok(UnitStatusNow {
            active: String::try_from(read(unit_if, "ActiveState")?)?,
            sub: String::try_from(read(unit_if, "SubState")?)?,
            restarts: u32::try_from(read(service_if, "NRestarts")?)?,
        })
    }

    /// The last lines `unit` wrote to the journal, for a message.
    pub fn journal_tail(&self, unit: &str) -> String {
        journal_tail(unit, self.user)
    }

    /// Active states (`active`, `inactive`, `failed`, ...) of `units`, in
    /// one round trip; units systemd does not know are missing.
    pub fn states(&self, units: &[String]) -> Result<HashMap<String, String>> {
        let list: Vec<UnitStatus> = self
            .manager
            .call("ListUnitsByNames", &(units,))
            .context("asking systemd for unit states")?;
        Ok(list
            .into_iter()
            .filter(|u| u.2 != "not-found")
            .map(|u| (u.0, u.3))
            .collect())
    }

    /// The active state of one unit.
    pub fn state(&self, unit: &str) -> Result<String> {
        Ok(self
            .states(&[unit.to_string()])?
            .remove(unit)
            .unwrap_or_else(|| "inactive".to_string()))
    }
}
