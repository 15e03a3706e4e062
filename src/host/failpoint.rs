//! A fault injector for the crash-safety tests, since a crash cannot be
//! caused for real at a given step: `ATOMIC_FAILPOINT=STEP` makes the step
//! fail, `ATOMIC_FAILPOINT=STEP:crash` kills the process there.

use anyhow::Result;

/// The environment variable naming the step.
pub const ENV_FAILPOINT: &str = "ATOMIC_FAILPOINT";

/// Fails (or crashes) here when `ATOMIC_FAILPOINT` names `step`.
pub fn failpoint(step: &str) -> Result<()> {
    let Ok(want) = std::env::var(ENV_FAILPOINT) else {
        return Ok(());
    };
    if want == format!("{step}:crash") {
        // SAFETY: sending SIGKILL to ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    if want == step {
        anyhow::bail!("failpoint {step}");
    }
    Ok(())
}
