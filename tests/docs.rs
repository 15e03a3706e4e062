//! The documentation that installs with the tool: every man page renders
//! with man(1) without a warning, and the shell completions complete.

mod bench;

use bench::{atomic_bin, check, run};
use std::process::Command;

#[test]
fn every_man_page_renders_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(Command::new(atomic_bin()).arg("man").arg(dir.path()));
    let pages: Vec<&str> = out
        .lines()
        .map(|l| l.strip_prefix("Wrote ").unwrap())
        .collect();
    for expected in [
        "man1/atomic.1",
        "man1/atomic-install.1",
        "man1/atomic-images-list.1",
        "man1/atomic-containers-update.1",
        "man5/atomic-exports.5",
    ] {
        assert!(
            pages.iter().any(|p| p.ends_with(expected)),
            "{expected} in {pages:?}"
        );
    }
    for page in &pages {
        let out = run(Command::new("man").env("MANWIDTH", "80").args([
            "--warnings",
            "-E",
            "UTF-8",
            "-l",
            page,
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "{page}: {err}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME"), "{page} renders:\n{text}");
    }
    let install = check(
        Command::new("man").env("MANWIDTH", "80").arg("-l").arg(
            pages
                .iter()
                .find(|p| p.ends_with("atomic-install.1"))
                .unwrap(),
        ),
    );
    assert!(install.contains("--now"), "{install}");
    let exports = check(
        Command::new("man").env("MANWIDTH", "80").arg("-l").arg(
            pages
                .iter()
                .find(|p| p.ends_with("atomic-exports.5"))
                .unwrap(),
        ),
    );
    for part in ["renameFiles", "EXEC_START", "defaultValues"] {
        assert!(exports.contains(part), "{part} in atomic-exports(5)");
    }
}

#[test]
fn the_bash_completion_completes_subcommands_and_options() {
    let script = check(Command::new(atomic_bin()).args(["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("atomic.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &str| -> Vec<String> {
        let out = check(Command::new("bash").arg("-c").arg(format!(
            "source {}; COMP_LINE='{words}'; COMP_WORDS=({words}); \
             COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}; \
             _atomic atomic \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        )));
        out.lines().map(str::to_string).collect()
    };
    assert_eq!(complete("atomic con"), ["containers"]);
    assert!(complete("atomic install --n").contains(&"--now".to_string()));
    for shell in ["zsh", "fish"] {
        let s = check(Command::new(atomic_bin()).args(["completions", shell]));
        assert!(
            s.contains("containers"),
            "{shell} completion names the subcommands"
        );
    }
}
