//! systemd over D-Bus (`org.freedesktop.systemd1`): reload, enable, disable,
//! start and stop units, waiting for each job to finish, and unit states.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

/// A connection to the system's service manager.
pub struct Systemd {
    manager: Proxy<'static>,
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
        Ok(Systemd { manager })
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

    fn job(&self, method: &str, unit: &str) -> Result<()> {
        let mut removed = self
            .manager
            .receive_signal("JobRemoved")
            .context("listening for systemd job events")?;
        let job: OwnedObjectPath = self
            .manager
            .call(method, &(unit, "replace"))
            .with_context(|| format!("{method} {unit}"))?;
        for msg in &mut removed {
            let (_id, path, _unit, result): (u32, OwnedObjectPath, String, String) =
                msg.body().deserialize()?;
            if path == job {
                if result != "done" {
                    let verb = if method == "StartUnit" {
                        "start"
                    } else {
                        "stop"
                    };
                    bail!("{unit} failed to {verb} (job {result}); see journalctl -u {unit}");
                }
                return Ok(());
            }
        }
        bail!("lost the connection to systemd while waiting for {unit}")
    }

    /// `systemctl start UNIT`, waiting for the job.
    pub fn start(&self, unit: &str) -> Result<()> {
        self.job("StartUnit", unit)
    }

    /// `systemctl stop UNIT`, waiting for the job.
    pub fn stop(&self, unit: &str) -> Result<()> {
        self.job("StopUnit", unit)
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
