//! The documentation that installs with the tool: man pages generated from
//! the clap definitions (`atomic(1)` and one page per subcommand), the
//! hand-written `atomic-exports(5)`, and shell completions.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

/// `atomic-exports(5)`: the `/exports` format.
const EXPORTS_PAGE: &str = include_str!("../../doc/atomic-exports.5");

/// Writes the man pages under `dir` as a man directory: `man1/atomic.1`,
/// `man1/atomic-images-list.1`, ..., `man5/atomic-exports.5`. Returns the
/// files written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut cmd = super::Opt::command();
    cmd.build();
    let man1 = dir.join("man1");
    let man5 = dir.join("man5");
    for d in [&man1, &man5] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut written = Vec::new();
    pages(&cmd, "", &man1, &mut written)?;
    let exports = man5.join("atomic-exports.5");
    std::fs::write(&exports, EXPORTS_PAGE)
        .with_context(|| format!("writing {}", exports.display()))?;
    written.push(exports);
    Ok(written)
}

/// The page of `cmd` (named `prefix-name`) and those of its subcommands.
fn pages(
    cmd: &clap::Command,
    prefix: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let name = if prefix.is_empty() {
        cmd.get_name().to_string()
    } else {
        format!("{prefix}-{}", cmd.get_name())
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(name.clone()))
        .render(&mut out)
        .with_context(|| format!("rendering the page of {name}"))?;
    let file = dir.join(format!("{name}.1"));
    std::fs::write(&file, out).with_context(|| format!("writing {}", file.display()))?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, &name, dir, written)?;
    }
    Ok(())
}

/// The completion script for `shell`, on standard output.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = super::Opt::command();
    clap_complete::generate(shell, &mut cmd, "atomic", &mut std::io::stdout());
}
