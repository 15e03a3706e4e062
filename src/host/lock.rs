//! The lock every mutating command holds: an exclusive `flock` on a file in
//! the checkout root, waited for a bounded time.

use anyhow::{bail, Context, Result};
use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Environment variable that sets how many seconds to wait for the lock.
pub const ENV_TIMEOUT: &str = "ATOMIC_LOCK_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock at `path`, creating the file and its directory when
    /// missing, waiting up to `ATOMIC_LOCK_TIMEOUT` seconds (default 60).
    /// `waiting` is called once if another holder makes it wait.
    pub fn acquire(path: &Path, waiting: impl FnOnce()) -> Result<Lock> {
        let timeout = match std::env::var(ENV_TIMEOUT) {
            Ok(v) => Duration::from_secs_f64(
                v.parse()
                    .with_context(|| format!("{ENV_TIMEOUT}={v} is not a number of seconds"))?,
            ),
            Err(_) => DEFAULT_TIMEOUT,
        };
        Self::acquire_within(path, timeout, waiting)
    }

    /// Takes the lock at `path`, giving up after `timeout`.
    pub fn acquire_within(path: &Path, timeout: Duration, waiting: impl FnOnce()) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let start = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
            if start.elapsed() >= timeout {
                bail!(
                    "another atomic command holds the lock {}; gave up after {} s",
                    path.display(),
                    timeout.as_secs_f64()
                );
            }
            if let Some(f) = waiting.take() {
                f();
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_fails_clearly() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("sub/.lock");
        let held = Lock::acquire_within(&path, Duration::ZERO, || {}).unwrap();
        let start = Instant::now();
        let err = Lock::acquire_within(&path, Duration::from_millis(300), || {}).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            err.to_string(),
            format!(
                "another atomic command holds the lock {}; gave up after 0.3 s",
                path.display()
            )
        );
        drop(held);
        Lock::acquire_within(&path, Duration::ZERO, || {}).unwrap();
    }
}
