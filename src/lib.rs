//! `atomic`: run services as system containers — OCI images stored in OSTree,
//! checked out as runtime bundles, run by runc under systemd, optionally
//! shipped as generated RPM packages.
//!
//! Dependencies point one way: `cli` -> `container` -> { `rpm`, `render`,
//! `image` } -> `host`, with `rpm` -> `render` -> `image`; `report` (the
//! event channel) is used by all and uses none.
//!
//! The map, one concept a file:
//! - `cli`: `args` (what clap parses, and the pull options a command
//!   gives), the dispatch, `output` and `progress` (all printing), `docs`.
//! - `container`: one verb a file (`install`, `update`, `rollback`,
//!   `uninstall`, `run`, `list`), each in a `Ctx` whose `target::Target`
//!   is picked once (the system, a `--root`, a `--user`); `state`, the
//!   typed deployment record (`Deployment` with `Delivered::Files(Ledger)`
//!   or `Delivered::Package`); `txn`, the transaction and crash recovery
//!   over the undo `journal`; `steps` the verbs share; `layout`, where
//!   slots live; `delivery/`, what differs between plain files (`files`,
//!   with the host-file `ledger`) and a package (`package`).
//! - `rpm`: the package of a deployment (`payload`, `identity`, `rules`),
//!   written in-process (`rpmfile`) or as a `spec`.
//! - `render`: from a checkout to a deployment: `bundle` (values and
//!   rendering), `config` (the OCI config), `hostfs`, `exports` (the
//!   manifest), `summary` (what an image does to the host), `template`,
//!   `tmpfiles` and `unit` (the two systemd formats, read one way),
//!   `rootless`.
//! - `image`: `name`, `source/` (`archive`, `registry`, `engine`) over the
//!   `distribution` client and `auth`, `policy/` (with `identity`),
//!   `signature`, `lookaside`, then `pull`, `import` (through `targuard`),
//!   `compose`, `store`, `catalog`, `lookup`.
//! - `host`: paths, files, systemd, package managers, users, the lock.
//! - `fixture`: test images from a text description, for tests only.

pub mod cli;
pub mod container;
pub mod host;
pub mod image;
pub mod render;
pub mod report;
pub mod rpm;

#[cfg(any(test, feature = "internal-testing-api"))]
pub mod fixture;
