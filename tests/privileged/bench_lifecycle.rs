//! Lifecycle benchmarks, run by `contrib/bench/lifecycle` (ignored in the
//! normal test run): the install checkout of a 10k-file, 200 MB image against
//! `cp -a` of the same rootfs, update downtime of the greeter under systemd,
//! a client's refused requests through updates of the socket-activated
//! greeter beside the plain one, how long a bad update takes to be rolled
//! back, and `containers list` with 50 containers. Medians of interleaved
//! runs.

use crate::bench;

use atomic::host::paths::HostPaths;
use atomic::image::store::Store;
use bench::image::{Compression, Config, Image, Layer};
use bench::sandbox::Sandbox;
use bench::{atomic_bin, check, fixtures, require_root, run};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A deterministic layer of `files` files of about `avg` bytes, half of them
/// random and half text, under `dir`.
fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn big_layer(dir: &str, files: usize, avg: usize, seed: u64) -> Layer {
    let mut b = tar::Builder::new(Vec::new());
    let mut x = seed;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut dirs = std::collections::BTreeSet::new();
    for i in 0..files {
        let sub = format!("{dir}/d{:03}", i % 100);
        for d in [dir.to_string(), sub.clone()] {
            if dirs.insert(d.clone()) {
                let mut h = header();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{d}/"), &[][..]).unwrap();
            }
        }
        let size = (next() as usize % (2 * avg)).max(1);
        let data: Vec<u8> = if i % 2 == 0 {
            (0..size).map(|_| next() as u8).collect()
        } else {
            format!("line {i} of a text file\n")
                .bytes()
                .cycle()
                .take(size)
                .collect()
        };
        let mut h = header();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, format!("{sub}/f{i}"), &data[..])
            .unwrap();
    }
    Layer::raw(b.into_inner().unwrap(), Compression::Gzip)
}

/// The 10k-file, 200 MB benchmark image, as an OCI layout in `dir`, pulled
/// into the root `root`; returns the image string.
fn big_image(dir: &std::path::Path, root: &std::path::Path) -> String {
    let layers = vec![
        fixtures::busybox_layer(Compression::Gzip),
        big_layer("usr/share/a", 4000, 20_000, 1),
        big_layer("usr/share/b", 3000, 20_000, 2),
        big_layer("usr/share/c", 3000, 20_000, 3),
    ];
    let config = Config {
        cmd: vec!["/bin/sh".into()],
        ..Config::default()
    };
    Image::new(layers, config).write_oci(&dir.join("layout"), "1.0");
    let s = format!("oci:{}:1.0", dir.join("layout").display());
    check(Command::new(atomic_bin()).arg("--root").arg(root).args([
        "pull",
        "--storage",
        "ostree",
        "-q",
        &s,
    ]));
    s
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn install_checkout_against_cp_a() {
    require_root();
    let t = tempfile::Builder::new()
        .prefix("atomic-bench-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = t.path().join("root");
    big_image(t.path(), &root);
    let store = Store::open_existing(&HostPaths::new(Some(&root), None, None))
        .unwrap()
        .unwrap();
    let img = store.image("localhost/layout:1.0").unwrap().unwrap();
    let (mut checkout, mut cp, mut install) = (Vec::new(), Vec::new(), Vec::new());
    for run_no in 0..3 {
        let dest = t.path().join(format!("co{run_no}"));
        let s = Instant::now();
        store.checkout(&img, &dest).unwrap();
        checkout.push(s.elapsed().as_secs_f64());

        let copy = t.path().join(format!("cp{run_no}"));
        let s = Instant::now();
        check(Command::new("cp").arg("-a").arg(&dest).arg(&copy));
        cp.push(s.elapsed().as_secs_f64());

        let s = Instant::now();
        check(Command::new(atomic_bin()).arg("--root").arg(&root).args([
            "install",
            "--system",
            "--now",
            "--name",
            &format!("b{run_no}"),
            "localhost/layout:1.0",
        ]));
        install.push(s.elapsed().as_secs_f64());
    }
    let files = walk_count(&t.path().join("co0"));
    let (c, p, i) = (
        median(checkout.clone()),
        median(cp.clone()),
        median(install.clone()),
    );
    println!("\n== install checkout: {files} entries, median of 3 interleaved runs ==");
    println!(
        "checkout (hard links)   {c:7.3} s   {:.3}x cp -a   runs {checkout:.3?}",
        c / p
    );
    println!("cp -a of the same tree  {p:7.3} s   1.000x         runs {cp:.3?}");
    println!("atomic install --root   {i:7.3} s   {:.3}x cp -a   runs {install:.3?} (checkout + render + files)", i / p);
}

fn walk_count(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        n += 1;
        if e.file_type().unwrap().is_dir() {
            n += walk_count(&e.path());
        }
    }
    n
}

fn atomic_in(sb: &Sandbox, args: &[&str]) -> String {
    let out = run(sb.atomic().args(args));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn update_downtime_of_the_greeter() {
    require_root();
    let sb = Sandbox::shared();
    let dir = sb.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("dt"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("dt").display());
    atomic_in(
        sb,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "dt",
            "--set",
            "PORT=8131",
            "--set",
            "RECEIVER=r0",
            &image,
        ],
    );

    // A client asking every 2 ms, recording when each receiver answered.
    let seen: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (seen, stop) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = TcpStream::connect(("127.0.0.1", 8131)) {
                    s.set_read_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    let mut line = String::new();
                    if BufReader::new(s).read_line(&mut line).is_ok() && !line.is_empty() {
                        let receiver = line
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_string();
                        seen.lock().unwrap().push((Instant::now(), receiver));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let wait_for = |r: &str| {
        let s = Instant::now();
        while !seen.lock().unwrap().iter().any(|(_, x)| x == r) {
            assert!(s.elapsed() < Duration::from_secs(20), "{r} never answered");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for("r0");
    let mut downtimes = Vec::new();
    for i in 1..=10 {
        let (old, new) = (format!("r{}", i - 1), format!("r{i}"));
        atomic_in(
            sb,
            &[
                "containers",
                "update",
                "dt",
                "--set",
                &format!("RECEIVER={new}"),
            ],
        );
        wait_for(&new);
        let v = seen.lock().unwrap();
        let first_new = v.iter().find(|(_, x)| *x == new).unwrap().0;
        let last_old = v
            .iter()
            .rfind(|(t, x)| *x == old && *t < first_new)
            .unwrap()
            .0;
        downtimes.push((first_new - last_old).as_secs_f64());
    }
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    atomic_in(sb, &["uninstall", "dt"]);
    println!("\n== update downtime (last answer of the old, first of the new), 10 updates ==");
    println!(
        "median {:.3} s   max {:.3} s   all {downtimes:.3?}",
        median(downtimes.clone()),
        downtimes.iter().cloned().fold(0.0, f64::max)
    );
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn containers_list_with_50_containers() {
    require_root();
    let sb = Sandbox::shared();
    let dir = sb.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("many"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("many").display());
    let names: Vec<String> = (0..50).map(|i| format!("many{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        atomic_in(
            sb,
            &[
                "install",
                "--system",
                "--now",
                "--name",
                n,
                "--set",
                &format!("PORT={}", 8200 + i),
                &image,
            ],
        );
    }
    let mut times = Vec::new();
    for _ in 0..10 {
        let s = Instant::now();
        let out = atomic_in(sb, &["containers", "list"]);
        times.push(s.elapsed().as_secs_f64());
        assert_eq!(
            out.lines().filter(|l| l.contains(" running ")).count(),
            50,
            "{out}"
        );
    }
    for n in &names {
        atomic_in(sb, &["uninstall", n]);
    }
    println!("\n== containers list with 50 running containers, 10 runs ==");
    println!("median {:.3} s   runs {times:.3?}", median(times.clone()));
}

/// Runs `cmd` under time(1), returning its wall time and peak RSS (MB).
/// The peak is the one time(1) reads for its own child: a child forked from
/// this test process, which holds the benchmark image, would report this
/// process's memory as its own peak, since Linux keeps the peak from before
/// exec.
fn timed(cmd: &mut Command) -> (f64, f64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(std::process::Stdio::null());
    let start = Instant::now();
    let status = wrapped.status().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "{cmd:?} failed");
    let kb: f64 = std::fs::read_to_string(report.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (secs, kb / 1024.0)
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn rpm_build_against_rpmbuild() {
    require_root();
    let t = tempfile::Builder::new()
        .prefix("atomic-bench-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = t.path().join("root");
    let image = big_image(t.path(), &root);
    let (mut ours, mut peer, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    let (mut our_size, mut peer_size) = (0, 0);
    // The floor: the composed rootfs through tar and zstd -3 on one core.
    let store = Store::open_existing(&HostPaths::new(Some(&root), None, None))
        .unwrap()
        .unwrap();
    let rootfs = t.path().join("floor-rootfs");
    store
        .checkout(
            &store.image("localhost/layout:1.0").unwrap().unwrap(),
            &rootfs,
        )
        .unwrap();
    let mut floor = Vec::new();
    for run_no in 0..3 {
        let (secs, _) = timed(Command::new("sh").arg("-c").arg(format!(
            "tar -C '{}' -cf - . | zstd -3 -T1 -q > '{}'",
            rootfs.display(),
            t.path().join(format!("floor{run_no}.tar.zst")).display()
        )));
        floor.push(secs);
        let out = t.path().join(format!("rpm{run_no}"));
        let (secs, mb) = timed(
            Command::new(atomic_bin())
                .arg("--root")
                .arg(&root)
                .args([
                    "install",
                    "--system",
                    "--now",
                    "--rpm=build",
                    "--name",
                    "big",
                    "--output",
                ])
                .arg(&out)
                .arg(&image),
        );
        ours.push(secs);
        rss.push(mb);
        our_size = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .metadata()
            .unwrap()
            .len();

        let spec_dir = t.path().join(format!("spec{run_no}"));
        check(
            Command::new(atomic_bin())
                .arg("--root")
                .arg(&root)
                .args([
                    "install",
                    "--system",
                    "--now",
                    "--rpm=spec",
                    "--name",
                    "big",
                    "--output",
                ])
                .arg(&spec_dir)
                .arg(&image),
        );
        let top = t.path().join(format!("top{run_no}"));
        let (secs, _) = timed(
            Command::new("rpmbuild")
                .args(["-bb", "--quiet", "--define"])
                .arg(format!("_topdir {}", top.display()))
                .arg("--define")
                .arg(format!("_sourcedir {}", spec_dir.display()))
                .args(["--define", "_binary_payload w6.gzdio"])
                .arg(spec_dir.join("atomic-container-big.spec")),
        );
        peer.push(secs);
        peer_size = std::fs::read_dir(top.join("RPMS/noarch"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .metadata()
            .unwrap()
            .len();
    }
    let (o, p, f) = (
        median(ours.clone()),
        median(peer.clone()),
        median(floor.clone()),
    );
    println!("\n== package of the 10k-file, 200 MB image, median of 3 interleaved runs ==");
    println!(
        "atomic --rpm=build (zstd 3)  {o:7.2} s  {:.3}x rpmbuild  {:.3}x the floor  runs {ours:.2?}",
        o / p,
        o / f
    );
    println!("tar | zstd -3 -T1 (floor)    {f:7.2} s                   runs {floor:.2?}");
    println!("rpmbuild -bb (gzip 6)        {p:7.2} s  1.000x           runs {peer:.2?}");
    println!(
        "package size: atomic {our_size} bytes, rpmbuild {peer_size} bytes = {:.3}x",
        our_size as f64 / peer_size as f64
    );
    println!(
        "atomic peak RSS: median {:.1} MB, runs {rss:.1?}",
        median(rss.clone())
    );
}

/// What a client asking at a fixed rate saw while updates and rollbacks
/// went on: how many it asked, how many were refused or cut short, and
/// the latencies of the answers, in seconds.
struct Loop {
    asked: usize,
    failed: usize,
    latencies: Vec<f64>,
}

impl Loop {
    fn p(&self, q: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// Asks the greeter on `port` at `rate` requests a second while `work`
/// runs, each on a connection of its own.
fn asking(port: u16, rate: u32, work: impl FnOnce()) -> Loop {
    let stop = Arc::new(AtomicBool::new(false));
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Loop {
                asked: 0,
                failed: 0,
                latencies: Vec::new(),
            };
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                seen.asked += 1;
                let answer = TcpStream::connect(("127.0.0.1", port)).and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    let mut line = String::new();
                    BufReader::new(s).read_line(&mut line)?;
                    Ok(line)
                });
                match answer {
                    Ok(l) if l.starts_with("Hi ") => {
                        seen.latencies.push(start.elapsed().as_secs_f64())
                    }
                    _ => seen.failed += 1,
                }
                // A fixed rate, never catching up in a burst.
                next = (next + period).max(Instant::now());
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            seen
        })
    };
    work();
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap()
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn updates_and_rollbacks_refuse_no_connection_with_a_socket() {
    require_root();
    let sb = Sandbox::shared();
    let dir = sb.tempdir();
    fixtures::socket_greeter(&fixtures::socket_greeter_manifest())
        .write_oci(&dir.path().join("zs"), "1.0");
    fixtures::greeter().write_oci(&dir.path().join("zp"), "1.0");
    let socket = format!("oci:{}:1.0", dir.path().join("zs").display());
    let plain = format!("oci:{}:1.0", dir.path().join("zp").display());
    const ROUNDS: usize = 20;
    const RATE: u32 = 200;
    println!(
        "\n== a client at {RATE} requests/s during {ROUNDS} updates and {ROUNDS} rollbacks =="
    );
    println!(
        "{:<22} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "greeter", "asked", "failed", "p50 ms", "p99 ms", "+p99 ms"
    );
    for (name, image, port) in [("zs", &socket, 8151u16), ("zp", &plain, 8152u16)] {
        atomic_in(
            sb,
            &[
                "install",
                "--system",
                "--now",
                "--name",
                name,
                "--set",
                &format!("PORT={port}"),
                image,
            ],
        );
        bench::greet(port);
        let quiet = asking(port, RATE, || std::thread::sleep(Duration::from_secs(3)));
        let busy = asking(port, RATE, || {
            for i in 0..ROUNDS {
                atomic_in(
                    sb,
                    &[
                        "containers",
                        "update",
                        name,
                        "--set",
                        &format!("RECEIVER=r{i}"),
                    ],
                );
                atomic_in(sb, &["containers", "rollback", name]);
            }
        });
        let label = if name == "zs" {
            "socket-activated"
        } else {
            "plain (contrast)"
        };
        println!(
            "{label:<22} {:>7} {:>7} {:>9.2} {:>9.2} {:>9.2}",
            busy.asked,
            busy.failed,
            busy.p(0.5) * 1e3,
            busy.p(0.99) * 1e3,
            (busy.p(0.99) - quiet.p(0.99)) * 1e3
        );
        atomic_in(sb, &["uninstall", name]);
    }
}

#[test]
#[ignore = "benchmark: contrib/bench/lifecycle"]
fn a_bad_update_is_rolled_back_and_serving_again() {
    require_root();
    let sb = Sandbox::shared();
    let dir = sb.tempdir();
    let layout = dir.path().join("zb");
    let good = r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" },
        "healthCheck": { "command": ["/bin/sh", "-c", "nc 127.0.0.1 $PORT </dev/null | grep -q '^Hi '"],
                         "interval": 1, "retries": 3 } }"#;
    let sick = good.replace("grep -q '^Hi '", "grep -q '^Bye '");
    let image = |manifest: &str, config: Option<String>| {
        let config =
            config.unwrap_or_else(|| fixtures::greeter_file("exports/config.json.template"));
        Image::new(
            vec![
                fixtures::busybox_layer(Compression::Gzip),
                fixtures::greeter_layer_with(manifest, &config, ""),
            ],
            fixtures::greeter_config("1.0"),
        )
    };
    image(good, None).write_oci(&layout, "good");
    image(&sick, None).write_oci(&layout, "sick");
    let exits = fixtures::greeter_file("exports/config.json.template")
        .replace("\"/usr/bin/greet\"", "\"/bin/false\"");
    image(good, Some(exits)).write_oci(&layout, "exits");
    let tag = |t: &str| format!("oci:{}:{t}", layout.display());
    atomic_in(
        sb,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "zb",
            "--set",
            "PORT=8153",
            &tag("good"),
        ],
    );
    bench::greet(8153);
    println!("\n== a bad update (check every 1 s, 3 retries: a deadline of 3 s) ==");
    for bad in ["sick", "exits"] {
        let start = Instant::now();
        let out = run(sb
            .atomic()
            .args(["containers", "update", "zb", "--rebase", &tag(bad)]));
        assert!(!out.status.success(), "the bad update stayed");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("rolled back zb to"), "{said}");
        assert!(bench::greet(8153).starts_with("Hi world"));
        let what = if bad == "sick" {
            "check never passes"
        } else {
            "exits at start"
        };
        println!(
            "{what:<20} back on the old deployment and serving {:.2} s after the update began",
            start.elapsed().as_secs_f64()
        );
    }
    atomic_in(sb, &["uninstall", "zb"]);
}
