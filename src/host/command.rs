//! The one way to run an external program (runc, systemd-tmpfiles, rpm,
//! rpm-ostree, dnf, createrepo_c): failures name the program and carry the
//! tail of its standard error.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

/// How much of a failing program's stderr goes into the error.
const STDERR_TAIL: usize = 2048;

/// Runs `cmd` to completion, capturing stdout; a non-zero exit is an error
/// carrying the end of stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = describe(cmd);
    tracing::debug!("running {shown}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail = tail(stderr.trim_end(), STDERR_TAIL);
        if tail.is_empty() {
            bail!("{shown} failed ({})", out.status);
        }
        bail!("{shown} failed ({}): {tail}", out.status);
    }
    String::from_utf8(out.stdout).with_context(|| format!("{shown} printed invalid UTF-8"))
}

/// Runs `cmd` to completion, ignoring its stdout.
pub fn run(cmd: &mut Command) -> Result<()> {
    output(cmd).map(drop)
}

/// Runs `cmd` and parses its stdout as JSON.
pub fn json<T: serde::de::DeserializeOwned>(cmd: &mut Command) -> Result<T> {
    let shown = describe(cmd);
    let out = output(cmd)?;
    serde_json::from_str(&out).with_context(|| format!("parsing the output of {shown}"))
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_returned() {
        let out = output(Command::new("sh").args(["-c", "echo hello"])).unwrap();
        assert_eq!(out, "hello\n");
    }

    #[test]
    fn failure_names_the_program_and_keeps_the_stderr_tail() {
        let long = "x".repeat(5000);
        let script = format!("echo {long} >&2; echo 'runtime exploded' >&2; exit 3");
        let err = output(Command::new("sh").args(["-c", &script]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("sh -c "), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.ends_with("runtime exploded"), "{err}");
        assert!(err.len() < 2048 + script.len() + 64, "{}", err.len());
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let err = run(&mut Command::new("/nonexistent/runc")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "cannot run /nonexistent/runc: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn json_output_is_parsed() {
        let v: Vec<u32> = json(Command::new("echo").arg("[1,2]")).unwrap();
        assert_eq!(v, [1, 2]);
        let err = json::<Vec<u32>>(Command::new("echo").arg("nope")).unwrap_err();
        assert!(format!("{err:#}").starts_with("parsing the output of echo nope"));
    }
}
