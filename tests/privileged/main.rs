//! Every test that needs root, in one target: they mount, run runc and
//! systemd in a sandbox, install with `rpm --root`, add users. Run as root
//! (`cargo test --test privileged`); as any other user each test fails
//! saying so, and every other target of `cargo test` runs green.

#[path = "../bench/mod.rs"]
mod bench;

mod bench_lifecycle;
mod bench_selftest;
mod catalog;
mod credentials;
mod failures;
mod hostile;
mod lifecycle;
mod ostree_host;
mod pull;
mod rpm;
mod sandbox_lifetime;
mod signatures;
mod updates;
mod user;
