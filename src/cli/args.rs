//! The command line as clap parses it: every command and option of the
//! product contract, and the settings they make (the pull options).

use crate::image::pull::PullOptions;
use crate::image::source::Creds;
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Run services as system containers: OCI images stored in OSTree, run by
/// runc under systemd, optionally shipped as RPM packages.
#[derive(Debug, Parser)]
#[command(name = "atomic", version)]
pub struct Opt {
    /// Relocate every host path under DIR and leave the service manager alone
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Work on the calling user's own containers, run by their systemd
    /// --user, with every file under their home and runtime directory
    /// (implied when not run as root)
    #[arg(long, global = true, conflicts_with = "root")]
    pub user: bool,

    /// More log output (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull an image into the OSTree repository
    Pull(PullOpts),
    /// Manage images in the OSTree repository
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Install an image as a system container
    Install(InstallOpts),
    /// Remove a system container
    Uninstall {
        /// Container name
        name: String,
    },
    /// Manage installed system containers
    #[command(subcommand)]
    Containers(ContainersCommand),
    /// Start a container's service, or run a command in it
    Run {
        /// Container name
        name: String,
        /// Command to run inside the container
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Stop a container's service
    Stop {
        /// Container name
        name: String,
    },
    /// Write the man pages (atomic(1), one per subcommand, atomic-exports(5))
    /// into DIR/man1 and DIR/man5
    Man {
        /// A man directory, such as /usr/local/share/man
        dir: PathBuf,
    },
    /// Print the completion script for SHELL
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Where pulled images are stored; OSTree is the only backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Storage {
    Ostree,
}

#[derive(Debug, Args)]
pub struct PullOpts {
    /// Storage backend
    #[arg(long, value_enum)]
    pub storage: Storage,
    /// Registry credentials
    #[arg(long, value_name = "USER[:PASS]")]
    pub src_creds: Option<String>,
    /// Registry credentials file searched first (default: the search of
    /// containers-auth.json(5), REGISTRY_AUTH_FILE first)
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Signature policy to check the image against (default:
    /// /etc/containers/policy.json, or a user's own
    /// ~/.config/containers/policy.json)
    #[arg(long, value_name = "FILE")]
    pub signature_policy: Option<PathBuf>,
    /// No progress output
    #[arg(short, long)]
    pub quiet: bool,
    /// How to show progress: bars on a terminal, or one JSON object a line
    /// on standard output (layer started, bytes, layer done, reused)
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Image to pull (registry reference, docker://, dockertar:, oci:, oci-archive:, docker:)
    pub image: String,
}

/// `pull --progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ProgressMode {
    /// Progress bars when standard error is a terminal
    #[default]
    Auto,
    /// JSON lines on standard output
    Json,
}

/// Options shared by the two `list` commands.
#[derive(Debug, Args)]
pub struct ListOpts {
    /// Include everything, not only the usual entries
    #[arg(short, long)]
    pub all: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Print only identifiers
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter by KEY=VALUE
    #[arg(short, long = "filter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub filter: Vec<(String, String)>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// List images
    List(ListOpts),
    /// Show an image's labels and template variables
    Info {
        /// Image
        image: String,
    },
    /// Delete images
    Delete {
        /// Delete even when a container uses the image
        #[arg(short, long)]
        force: bool,
        /// Images
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove layers no image references, and unreferenced objects
    Prune,
    /// Give an image another name
    Tag {
        /// Existing image
        src: String,
        /// New name
        dest: String,
    },
}

/// The `--rpm` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RpmMode {
    /// Build and install the package
    Install,
    /// Only write the package file
    Build,
    /// Only write the spec file and its sources
    Spec,
}

/// `--system-package`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SystemPackage {
    /// Yes when the image has host files and rpm manages the host
    #[default]
    Auto,
    /// Only write the package file
    Build,
    /// Build and install the package
    Yes,
    /// Copy host files directly
    No,
}

#[derive(Debug, Args)]
pub struct InstallOpts {
    /// Install as a system container (the only kind)
    #[arg(long, required = true)]
    pub system: bool,
    /// Container name (default: the image's repository name)
    #[arg(long)]
    pub name: Option<String>,
    /// Set template variable KEY to VALUE, over the image's defaults (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// OCI runtime to run the bundle with (default: runc from PATH)
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// Signature policy to check the image against when it is pulled
    /// (default: /etc/containers/policy.json)
    #[arg(long, value_name = "FILE")]
    pub signature_policy: Option<PathBuf>,
    /// Registry credentials file searched first when the image is pulled
    /// (default: the search of containers-auth.json(5))
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Also start the service, and wait until it is up (ATOMIC_JOB_TIMEOUT
    /// bounds the wait; default: the unit's own start timeout)
    #[arg(long)]
    pub now: bool,
    /// Ship the container as an RPM package
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "install")]
    pub rpm: Option<RpmMode>,
    /// Where --rpm=build and --rpm=spec write (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// With --rpm=build: add the package to the yum repository in --output
    /// (createrepo_c), for hosts to install it from
    #[arg(long, requires = "output")]
    pub createrepo: bool,
    /// Whether to ship host files as an RPM package
    #[arg(long, value_enum, conflicts_with = "rpm")]
    pub system_package: Option<SystemPackage>,
    /// Image
    pub image: String,
}

impl InstallOpts {
    /// The effective `--system-package` choice, folding `--rpm` into it.
    pub fn system_package(&self) -> SystemPackage {
        match (self.rpm, self.system_package) {
            (Some(RpmMode::Install), _) => SystemPackage::Yes,
            (Some(RpmMode::Build | RpmMode::Spec), _) => SystemPackage::Build,
            (None, choice) => choice.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ContainersCommand {
    /// List system containers
    List {
        #[command(flatten)]
        list: ListOpts,
        /// Do not truncate identifiers and commands
        #[arg(long)]
        no_trunc: bool,
    },
    /// Move a container to the newest image, or new values, in its other slot
    Update {
        /// Container name
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Update every container
        #[arg(long)]
        all: bool,
        /// Set template variable KEY to VALUE, over the image's defaults (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Switch to another image
        #[arg(long, value_name = "IMAGE", conflicts_with = "all")]
        rebase: Option<String>,
        /// Signature policy to check a newly pulled image against (default:
        /// /etc/containers/policy.json)
        #[arg(long, value_name = "FILE")]
        signature_policy: Option<PathBuf>,
        /// Registry credentials file searched first when an image is pulled
        /// (default: the search of containers-auth.json(5))
        #[arg(long, value_name = "FILE")]
        authfile: Option<PathBuf>,
        #[command(flatten)]
        health: HealthOpts,
    },
    /// Switch a container back to its previous deployment
    Rollback {
        /// Container name
        name: String,
        #[command(flatten)]
        health: HealthOpts,
    },
}

/// How an update or rollback waits for the new deployment to work.
#[derive(Debug, Clone, Args)]
pub struct HealthOpts {
    /// Do not wait for the new deployment to be healthy, nor go back when
    /// it is not
    #[arg(long)]
    pub no_health: bool,
    /// Seconds to wait for the new deployment to be healthy before going
    /// back (default: the health check's start period and retries, else 30)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, conflicts_with = "no_health")]
    pub health_timeout: Option<f64>,
}

impl HealthOpts {
    pub fn gate(&self) -> crate::container::health::Gate {
        crate::container::health::Gate {
            off: self.no_health,
            timeout: self.health_timeout,
        }
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a number of seconds from 0.1 to 86400, got {s:?}"
        )),
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl Command {
    /// Whether the command changes the repo or the host, and so must hold the lock.
    pub fn mutates(&self) -> bool {
        match self {
            Command::Pull(_) | Command::Install(_) | Command::Uninstall { .. } => true,
            Command::Images(c) => !matches!(c, ImagesCommand::List(_) | ImagesCommand::Info { .. }),
            Command::Containers(c) => !matches!(c, ContainersCommand::List { .. }),
            Command::Run { .. }
            | Command::Stop { .. }
            | Command::Man { .. }
            | Command::Completions { .. } => false,
        }
    }
}

impl Command {
    /// The pull settings the command was given: `--signature-policy`,
    /// `--authfile`, `--src-creds` (whose missing password is read from
    /// stdin).
    pub fn pull_options(&self) -> Result<PullOptions> {
        Ok(match self {
            Command::Pull(p) => PullOptions {
                policy: p.signature_policy.clone(),
                creds: p.src_creds.as_deref().map(parse_creds).transpose()?,
                auth_file: p.authfile.clone(),
            },
            Command::Install(i) => PullOptions {
                policy: i.signature_policy.clone(),
                creds: None,
                auth_file: i.authfile.clone(),
            },
            Command::Containers(ContainersCommand::Update {
                signature_policy,
                authfile,
                ..
            }) => PullOptions {
                policy: signature_policy.clone(),
                creds: None,
                auth_file: authfile.clone(),
            },
            _ => PullOptions::default(),
        })
    }
}

/// Parses `--src-creds USER[:PASS]`; a missing password is read from stdin.
fn parse_creds(s: &str) -> Result<Creds> {
    let (user, password) = match s.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => {
            eprint!("Password for {s}: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the registry password")?;
            (
                s.to_string(),
                line.trim_end_matches(['\r', '\n']).to_string(),
            )
        }
    };
    if user.is_empty() {
        bail!("--src-creds needs a user name");
    }
    Ok(Creds { user, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Opt {
        Opt::try_parse_from(std::iter::once("atomic").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn refuses(args: &[&str]) -> String {
        Opt::try_parse_from(std::iter::once("atomic").chain(args.iter().copied()))
            .map(|o| format!("{o:?}"))
            .expect_err("parsed")
            .to_string()
    }

    #[test]
    fn root_is_global_before_or_after_the_subcommand() {
        for args in [
            &["--root", "/r", "images", "list"][..],
            &["images", "list", "--root", "/r"],
            &["images", "--root", "/r", "list"],
        ] {
            assert_eq!(
                parse(args).root.as_deref(),
                Some(std::path::Path::new("/r"))
            );
        }
    }

    #[test]
    fn pull_needs_ostree_storage() {
        let o = parse(&[
            "pull",
            "--storage",
            "ostree",
            "--src-creds",
            "u:p",
            "busybox",
        ]);
        let Command::Pull(p) = o.command else {
            panic!()
        };
        assert_eq!(p.storage, Storage::Ostree);
        assert_eq!(p.src_creds.as_deref(), Some("u:p"));
        assert_eq!(p.image, "busybox");
        assert!(refuses(&["pull", "busybox"]).contains("--storage"));
        assert!(refuses(&["pull", "--storage", "docker", "busybox"]).contains("docker"));
    }

    #[test]
    fn install_options() {
        let o = parse(&[
            "install",
            "--system",
            "--name",
            "g",
            "--set",
            "A=1",
            "--set=B=x=y",
            "--runtime",
            "/usr/bin/crun",
            "img",
        ]);
        let Command::Install(i) = o.command else {
            panic!()
        };
        assert_eq!(i.name.as_deref(), Some("g"));
        assert_eq!(
            i.set,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(i.system_package(), SystemPackage::Auto);
        assert!(refuses(&["install", "img"]).contains("--system"));
        assert!(refuses(&["install", "--system", "--set", "novalue", "img"]).contains("KEY=VALUE"));
    }

    #[test]
    fn rpm_flag_forms() {
        let mode = |args: &[&str]| {
            let Command::Install(i) = parse(args).command else {
                panic!()
            };
            (i.rpm, i.system_package())
        };
        assert_eq!(
            mode(&["install", "--system", "--rpm", "img"]),
            (Some(RpmMode::Install), SystemPackage::Yes)
        );
        assert_eq!(
            mode(&["install", "--system", "--rpm=build", "img"]),
            (Some(RpmMode::Build), SystemPackage::Build)
        );
        assert_eq!(
            mode(&["install", "--system", "--rpm=spec", "img"]),
            (Some(RpmMode::Spec), SystemPackage::Build)
        );
        assert_eq!(
            mode(&["install", "--system", "--system-package", "no", "img"]),
            (None, SystemPackage::No)
        );
    }

    #[test]
    fn containers_update_name_or_all() {
        let o = parse(&["containers", "update", "--all"]);
        assert!(matches!(
            o.command,
            Command::Containers(ContainersCommand::Update {
                all: true,
                name: None,
                ..
            })
        ));
        let o = parse(&[
            "containers",
            "update",
            "g",
            "--set",
            "PORT=8082",
            "--rebase",
            "img2",
        ]);
        let Command::Containers(ContainersCommand::Update {
            name, set, rebase, ..
        }) = o.command
        else {
            panic!()
        };
        assert_eq!(name.as_deref(), Some("g"));
        assert_eq!(set, [("PORT".into(), "8082".into())]);
        assert_eq!(rebase.as_deref(), Some("img2"));
        refuses(&["containers", "update"]);
        refuses(&["containers", "update", "g", "--all"]);
    }

    #[test]
    fn list_options() {
        let o = parse(&[
            "containers",
            "list",
            "-a",
            "--json",
            "-q",
            "--no-trunc",
            "-f",
            "runtime=runc",
        ]);
        let Command::Containers(ContainersCommand::List { list, no_trunc }) = o.command else {
            panic!()
        };
        assert!(list.all && list.json && list.quiet && no_trunc);
        assert_eq!(list.filter, [("runtime".into(), "runc".into())]);
    }

    #[test]
    fn run_takes_a_command_after_the_name() {
        let o = parse(&["run", "g", "cat", "/etc/os-release", "-n"]);
        let Command::Run { name, command } = o.command else {
            panic!()
        };
        assert_eq!(name, "g");
        assert_eq!(command, ["cat", "/etc/os-release", "-n"]);
    }

    #[test]
    fn which_commands_take_the_lock() {
        assert!(parse(&["pull", "--storage", "ostree", "x"])
            .command
            .mutates());
        assert!(parse(&["images", "prune"]).command.mutates());
        assert!(parse(&["containers", "rollback", "g"]).command.mutates());
        assert!(!parse(&["images", "list"]).command.mutates());
        assert!(!parse(&["containers", "list"]).command.mutates());
    }
}
