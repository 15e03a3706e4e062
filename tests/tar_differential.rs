//! The tar guard against the tar reader it guards, differentially: over
//! archives mutated at random from seeds that use every header kind (PAX
//! local and global, GNU long names and links, links, directories, GNU
//! sparse), whenever neither refuses, both must find the same entries.
//! A disagreement is where a header the guard bounds is not the one the
//! reader buffers. The same check is the `tar_guard` fuzz target; this
//! runs it in every `cargo test` for a bounded time (`ATOMIC_TAR_FUZZ_SECS`,
//! 20 s by default), seeded from the clock, the seed printed to replay it
//! (`ATOMIC_TAR_FUZZ_SEED`). It needs no root.

use atomic::image::targuard::differential;
use std::time::{Duration, Instant};

fn header(kind: tar::EntryType, name: &str, size: u64, ustar: bool) -> tar::Header {
    let mut h = if ustar {
        tar::Header::new_ustar()
    } else {
        tar::Header::new_gnu()
    };
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    h
}

fn seeds() -> Vec<Vec<u8>> {
    use tar::EntryType as E;
    let mut out = Vec::new();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&header(E::Regular, "a", 700, true), &[1u8; 700][..])
        .unwrap();
    b.append(&header(E::Directory, "d", 0, true), &[][..])
        .unwrap();
    let mut l = header(E::Symlink, "l", 0, true);
    l.set_link_name("a").unwrap();
    l.set_cksum();
    b.append(&l, &[][..]).unwrap();
    out.push(b.into_inner().unwrap());

    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"1024"[..]), ("path", &b"p/x"[..])])
        .unwrap();
    b.append(&header(E::Regular, "x", 0, true), &[2u8; 1024][..])
        .unwrap();
    let g = b"13 comment=x\n";
    b.append(&header(E::XGlobalHeader, "g", g.len() as u64, true), &g[..])
        .unwrap();
    let mut h = header(E::Link, "h", 0, true);
    h.set_link_name("x").unwrap();
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    out.push(b.into_inner().unwrap());

    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "n/".repeat(80) + "f", &b"abc"[..])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(E::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "s", "t/".repeat(80)).unwrap();
    b.append(&header(E::GNUSparse, "sp", 512, false), &[3u8; 512][..])
        .unwrap();
    out.push(b.into_inner().unwrap());
    out
}

/// xorshift64*: enough randomness to mutate with, replayable by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One mutation of `tar`, aimed at what decides where headers are.
fn mutate(rng: &mut Rng, tar: &mut Vec<u8>) {
    let blocks = tar.len() / 512;
    if blocks == 0 {
        return;
    }
    let block = rng.below(blocks) * 512;
    match rng.below(7) {
        // The type flag.
        0 => tar[block + 156] = b"0125xgLKS7"[rng.below(10)],
        // The size field: octal, or base-256.
        1 => {
            let v = rng.next() % 4096;
            let field = if rng.below(4) == 0 {
                let mut f = [0u8; 12];
                f[0] = 0x80;
                f[4..].copy_from_slice(&v.to_be_bytes());
                f
            } else {
                let mut f = [0u8; 12];
                f[..11].copy_from_slice(format!("{v:011o}").as_bytes());
                f
            };
            tar[block + 124..block + 136].copy_from_slice(&field);
        }
        // The magic.
        2 => tar[block + 257..block + 265]
            .copy_from_slice([b"ustar\x0000", b"ustar  \0", b"\0\0\0\0\0\0\0\0"][rng.below(3)]),
        // A PAX record written into a block.
        3 => {
            let recs: [&[u8]; 4] = [
                b"12 size=512\n",
                b"13 size=2048\n",
                b"9 size=0\n",
                b"20 path=x\n7 size=1\n",
            ];
            let r = recs[rng.below(recs.len())];
            let at = block + rng.below(512 - r.len());
            tar[at..at + r.len()].copy_from_slice(r);
        }
        // A byte anywhere.
        4 => {
            let i = rng.below(tar.len());
            tar[i] = rng.next() as u8;
        }
        // A block repeated, or dropped.
        5 => {
            let copy = tar[block..block + 512].to_vec();
            tar.splice(block..block, copy);
        }
        _ => {
            tar.drain(block..block + 512);
        }
    }
    // Mostly keep checksums right, so the mutation reaches the parsers.
    if rng.below(8) != 0 {
        for b in 0..tar.len() / 512 {
            let h = &mut tar[b * 512..b * 512 + 512];
            if h.iter().all(|&x| x == 0) {
                continue;
            }
            h[148..156].fill(b' ');
            let sum: u32 = h.iter().map(|&x| u32::from(x)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        }
    }
}

#[test]
fn the_guard_and_the_reader_agree_on_every_entry() {
    let secs: u64 = std::env::var("ATOMIC_TAR_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("ATOMIC_TAR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("tar differential: seed {seed} (ATOMIC_TAR_FUZZ_SEED={seed} replays it), {secs} s");
    let seeds = seeds();
    for s in &seeds {
        differential(s).unwrap();
    }
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let mut tar = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut tar);
        }
        if let Err(e) = differential(&tar) {
            let file = std::env::temp_dir().join(format!("atomic-tar-disagreement-{seed}.tar"));
            std::fs::write(&file, &tar).unwrap();
            panic!("{e} (archive kept in {})", file.display());
        }
        runs += 1;
    }
    eprintln!("tar differential: {runs} archives, no disagreement");
    assert!(runs > 0);
}
