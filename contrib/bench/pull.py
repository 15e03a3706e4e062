#!/usr/bin/env python3
# Pull benchmark: how long `atomic pull --storage ostree` plus the rootfs
# checkout takes against its peers, side by side in one run, on a synthetic
# image (3 gzip layers, ~10k files, ~200 MB uncompressed, ~100 MB compressed)
# served by a local Debian `docker-registry` on 127.0.0.1:
#
#   floor         curl | tar -xz of each layer blob into one directory, and
#                 the same followed by one `sync` (atomic's repository is
#                 durable: libostree syncs before refs move)
#   skopeo+umoci  skopeo copy to an OCI layout, then umoci unpack
#   ostree CLI    curl | tar -xz per layer, ostree commit, ostree checkout
#   atomic        atomic pull, then `atomic --root install --system` of the
#                 image: its own checkout (the layers composed into one tree,
#                 checked out with hard links) and the bundle it renders
#
# Every pipeline starts cold (fresh directory / repository, on a new ext4
# filesystem of its own: see Bench.fresh), the runs are
# interleaved (run 1 of every pipeline, then run 2, ...) and medians are
# reported, because disk time swings a lot. It also measures a re-pull of the
# unchanged image, a pull of a v2 image with one changed layer (blobs fetched,
# repository growth) and the peak RSS of atomic pull for a 200 MB and a 50 MB
# image. Only 127.0.0.1 is contacted.
#
# Run as root (Python 3 standard library only), after building atomic:
#   contrib/bench/pull.py [--runs 3] [--atomic target/release/atomic]
# The generated image is cached under /var/tmp/atomic-bench-cache-<version>.

import argparse
import gzip
import hashlib
import json
import os
import random
import shlex
import shutil
import socket
import stat
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

CACHE_VERSION = "1"
CACHE_DIR = Path("/var/tmp") / f"atomic-bench-cache-{CACHE_VERSION}"
SEED = 20240611
MB = 1_000_000
TOTAL_FILES = 10_000
TOTAL_BYTES = 200 * MB
LAYER_SHARES = (0.5, 0.3, 0.2)  # fraction of the files in each layer
CHANGED_SHARE = 0.01  # fraction of the image's files v2 changes (in layer 3)
SMALL_SCALE = 0.25  # the ~50 MB image for the memory comparison
MTIME = 1_700_000_000
FS_BYTES = 3 << 30  # each run's filesystem (sparse)
TEXT = b"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\n"

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
TOOLS = ("docker-registry", "skopeo", "umoci", "ostree", "curl", "tar", "du", "nproc", "bash",
         "mkfs.ext4", "mount", "umount")


class BenchError(Exception):
    """A failure that ends the benchmark with a clear message."""


class CommandFailed(BenchError):
    def __init__(self, cmd, code, stderr):
        super().__init__(f"command exited {code}: {shlex.join(cmd)}")
        self.stderr = stderr
        self.stage = None


# ---------------------------------------------------------------- commands

def child_env():
    """The environment for every command: no proxies, no atomic overrides."""
    drop = {"ATOMIC_OSTREE_REPO", "ATOMIC_OSTREE_CHECKOUT_PATH", "RUST_LOG"}
    env = {k: v for k, v in os.environ.items()
           if k not in drop and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    return env


ENV = child_env()


def run(cmd):
    """Runs cmd; returns (wall seconds, max RSS in bytes of that child, stdout).

    os.wait4 on the child's pid gives the rusage of that one process tree,
    unlike RUSAGE_CHILDREN, whose ru_maxrss is the max over all children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise CommandFailed(cmd, proc.returncode, err.read().decode(errors="replace"))
        out.seek(0)
        return elapsed, usage.ru_maxrss * 1024, out.read().decode(errors="replace")


def shell(script):
    """Runs a bash pipeline (pipefail) with run()."""
    return run(["bash", "-o", "pipefail", "-c", script])


def fetch_untar(url, dest):
    """Seconds to stream one gzip layer blob from the registry into dest."""
    return shell(f"curl -sSf {shlex.quote(url)} | tar -xzf - -C {shlex.quote(str(dest))}")[0]


def du_bytes(path):
    return int(run(["du", "-sb", str(path)])[2].split()[0])


# ---------------------------------------------------------------- image generation

class HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self):
        self.inner.flush()


def content(path, size, generation):
    """Deterministic file content: half seeded random bytes, half repetitive text."""
    rng = random.Random(f"{SEED}:{path}:{generation}")
    half = size // 2
    text = f"{path} v{generation}: ".encode() + TEXT
    return rng.randbytes(half) + (text * ((size - half) // len(text) + 1))[:size - half]


def plan_image(name, scale):
    """The files of each layer: lists of [path, size, generation]."""
    rng = random.Random(f"{SEED}:{name}")
    nfiles = round(TOTAL_FILES * scale)
    weights = [rng.lognormvariate(0, 1.5) for _ in range(nfiles)]
    factor = TOTAL_BYTES * scale / sum(weights)
    layers = [[] for _ in LAYER_SHARES]
    bounds = [round(nfiles * sum(LAYER_SHARES[:i + 1])) for i in range(len(LAYER_SHARES))]
    tops = ("lib", "share", "libexec")
    for i, w in enumerate(weights):
        layer = next(n for n, b in enumerate(bounds) if i < b)
        path = f"usr/{tops[layer]}/pkg{i // 40:04d}/file{i:05d}.dat"
        layers[layer].append([path, max(1, int(w * factor)), 0])
    return layers


def change_files(layers, name):
    """v2: the last layer with CHANGED_SHARE of the image's files rewritten."""
    rng = random.Random(f"{SEED}:{name}:v2")
    total = sum(len(layer) for layer in layers)
    last = [list(entry) for entry in layers[-1]]
    for entry in rng.sample(last, round(total * CHANGED_SHARE)):
        entry[2] = 1
    return layers[:-1] + [last]


def write_blob(blobs, data):
    hexd = hashlib.sha256(data).hexdigest()
    (blobs / hexd).write_bytes(data)
    return {"digest": f"sha256:{hexd}", "size": len(data)}


def write_layer(blobs, entries):
    """Writes one tar+gzip layer blob; returns its descriptor and diff_id."""
    tmp = blobs / "layer.tmp"
    with open(tmp, "wb") as f:
        compressed = HashingWriter(f)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            raw = HashingWriter(gz)
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                dirs = set()
                for path, size, generation in entries:
                    parts = path.split("/")
                    for depth in range(1, len(parts)):
                        d = "/".join(parts[:depth])
                        if d not in dirs:
                            dirs.add(d)
                            tar.addfile(tar_info(d, tarfile.DIRTYPE, 0o755, 0))
                    data = content(path, size, generation)
                    tar.addfile(tar_info(path, tarfile.REGTYPE, 0o644, size), _Bytes(data))
    hexd = compressed.sha.hexdigest()
    tmp.rename(blobs / hexd)
    return {"mediaType": MEDIA_LAYER, "digest": f"sha256:{hexd}", "size": compressed.size}, \
        f"sha256:{raw.sha.hexdigest()}"


class _Bytes:
    """A minimal readable file over bytes (avoids copying into BytesIO)."""

    def __init__(self, data):
        self.view = memoryview(data)

    def read(self, n=-1):
        n = len(self.view) if n < 0 else n
        chunk, self.view = self.view[:n], self.view[n:]
        return bytes(chunk)


def tar_info(path, kind, mode, size):
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, MTIME
    info.uname = info.gname = "root"
    return info


def write_image(layout, tag, layers, cache):
    """Writes the layers (reusing blobs already written), config and manifest."""
    blobs = layout / "blobs" / "sha256"
    descriptors, diff_ids = [], []
    for entries in layers:
        key = hashlib.sha256(json.dumps(entries).encode()).hexdigest()
        if key not in cache:
            cache[key] = write_layer(blobs, entries)
        descriptors.append(cache[key][0])
        diff_ids.append(cache[key][1])
    config = {
        "created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench layer {n}"}
                    for n in range(len(layers))],
    }
    config_desc = write_blob(blobs, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, **config_desc}, "layers": descriptors}
    desc = {"mediaType": MEDIA_MANIFEST, **write_blob(blobs, json.dumps(manifest).encode()),
            "annotations": {REF_NAME: tag}}
    files = sorted((path, size) for entries in layers for path, size, _ in entries)
    changed = [size for entries in layers for _, size, generation in entries if generation]
    return desc, {
        "tag": tag,
        "layers": [d["digest"].split(":")[1] for d in descriptors],
        "config": config_desc["digest"].split(":")[1],
        "files": len(files),
        "bytes": sum(size for _, size in files),
        "compressed": sum(d["size"] for d in descriptors),
        "fingerprint": fingerprint_of(files),
        "changed_files": len(changed),
        "changed_bytes": sum(changed),
    }


def fingerprint_of(files):
    return hashlib.sha256("\n".join(f"{p} {s}" for p, s in sorted(files)).encode()).hexdigest()


def ensure_images():
    """The OCI layout with tags v1, v2 and small, generated once and cached."""
    meta_file = CACHE_DIR / "images.json"
    if meta_file.exists():
        print(f"using cached image layout {CACHE_DIR / 'layout'}", flush=True)
        return CACHE_DIR / "layout", json.loads(meta_file.read_text())
    print(f"generating the image layout under {CACHE_DIR} (cached for later runs)...", flush=True)
    start = time.perf_counter()
    shutil.rmtree(CACHE_DIR, ignore_errors=True)
    layout = CACHE_DIR / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    big = plan_image("bench", 1.0)
    cache, manifests, meta = {}, [], {}
    for tag, layers in (("v1", big), ("v2", change_files(big, "bench")),
                        ("small", plan_image("small", SMALL_SCALE))):
        desc, meta[tag] = write_image(layout, tag, layers, cache)
        manifests.append(desc)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    meta_file.write_text(json.dumps(meta, indent=1))
    print(f"generated in {time.perf_counter() - start:.1f} s", flush=True)
    return layout, meta


def rootfs_fingerprint(root):
    """Paths and sizes of the regular files under root, hashed."""
    files = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                files.append((os.path.relpath(p, root), st.st_size))
    return fingerprint_of(files)


# ---------------------------------------------------------------- registry

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """Debian's docker-registry on a free loopback port with private storage."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="atomic-bench-registry-", dir="/var/tmp"))
        self.host = f"127.0.0.1:{free_port()}"
        self.log = self.dir / "registry.log"
        config = self.dir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.dir / 'storage'}\n"
            f"http:\n  addr: {self.host}\n")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], env=ENV,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._wait()

    def _wait(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", int(self.host.split(":")[1])), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        log = self.log.read_text(errors="replace")
        self.stop()
        raise BenchError(f"the registry did not come up:\n{log}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def push(self, layout, tag, ref):
        run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
             f"oci:{layout}:{tag}", f"docker://{self.host}/{ref}"])

    def blob_url(self, hexd):
        return f"http://{self.host}/v2/bench/blobs/sha256:{hexd}"

    def log_offset(self):
        return self.log.stat().st_size

    def blob_gets_since(self, offset):
        """The digests (hex) of blobs fetched with GET since offset."""
        time.sleep(0.2)  # let the access log line of the last request land
        with open(self.log, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        gets = []
        for line in lines:
            at = line.find('"GET /v2/')
            if at >= 0 and "/blobs/sha256:" in line[at:]:
                tail = line[at:].split("/blobs/sha256:", 1)[1]
                gets.append("".join(c for c in tail[:64] if c in "0123456789abcdef"))
        return gets


# ---------------------------------------------------------------- pipelines

class Bench:
    def __init__(self, atomic, registry, meta, work, fresh_fs):
        self.binary = atomic
        self.registry = registry
        self.meta = meta
        self.work = work
        self.fresh_fs = fresh_fs
        self.mounted = []
        self.runs = 0

    def fresh(self, name):
        """A new directory for one run of a pipeline: by default the root of
        a new ext4 filesystem (mkfs.ext4 defaults, so with a journal, as on
        a real host) on a loop device, released after the run. On an ext4
        without a journal, as some VMs' root is, every inode allocation skips
        one by one the inodes its block group freed in the last 1-5 minutes:
        a pipeline run after another that deleted or overwrote files pays for
        them (a cold 10k-file atomic pull measured 1.1 s on a quiet root and
        1.8-2.6 s after other runs). `--no-fresh-fs` runs in /var/tmp."""
        self.runs += 1
        path = self.work / f"{name}-{self.runs}"
        path.mkdir()
        if self.fresh_fs:
            image = self.work / f"{name}-{self.runs}.ext4"
            with open(image, "wb") as f:
                f.truncate(FS_BYTES)
            run(["mkfs.ext4", "-q", "-F", str(image)])
            run(["mount", "-o", "loop", str(image), str(path)])
            self.mounted.append((path, image))
        return path

    def release(self):
        """Unmounts and removes the filesystems of the runs so far."""
        while self.mounted:
            path, image = self.mounted.pop()
            run(["umount", str(path)])
            image.unlink()

    def check_rootfs(self, rootfs):
        if rootfs_fingerprint(rootfs) != self.meta["v1"]["fingerprint"]:
            raise BenchError(f"{rootfs}: the files differ from the generated image v1")

    def floor(self):
        dest = self.fresh("floor") / "rootfs"
        dest.mkdir()
        total = sum(fetch_untar(self.registry.blob_url(h), dest) for h in self.meta["v1"]["layers"])
        synced = run(["sync"])[0]
        self.check_rootfs(dest)
        return {"total": total, "+sync": total + synced}

    def skopeo_umoci(self):
        work = self.fresh("skopeo")
        copy = run(["skopeo", "copy", "--src-tls-verify=false",
                    f"docker://{self.registry.host}/bench:v1", f"oci:{work / 'oci'}:v1"])[0]
        unpack = run(["umoci", "unpack", "--image", f"{work / 'oci'}:v1", str(work / "bundle")])[0]
        self.check_rootfs(work / "bundle" / "rootfs")
        return {"total": copy + unpack, "skopeo copy": copy, "umoci unpack": unpack}

    def ostree_cli(self):
        work = self.fresh("ostree")
        repo, dest = work / "repo", work / "rootfs"
        fetch = commit = 0.0
        init = run(["ostree", f"--repo={repo}", "init", "--mode=bare"])[0]
        for n, hexd in enumerate(self.meta["v1"]["layers"]):
            layer_dir = work / f"layer{n}"
            layer_dir.mkdir()
            fetch += fetch_untar(self.registry.blob_url(hexd), layer_dir)
            commit += run(["ostree", f"--repo={repo}", "commit", f"--tree=dir={layer_dir}",
                           "-b", f"layer{n}", "--no-xattrs"])[0]
        checkout = sum(run(["ostree", f"--repo={repo}", "checkout", "--union", "--whiteouts",
                            f"layer{n}", str(dest)])[0]
                       for n in range(len(self.meta["v1"]["layers"])))
        self.check_rootfs(dest)
        return {"total": init + fetch + commit + checkout, "ostree init": init, "curl|tar": fetch,
                "ostree commit": commit, "ostree checkout": checkout}

    def atomic_pull(self, root, ref):
        """Wall seconds and peak RSS (bytes) of one atomic pull into root."""
        seconds, rss, _ = run([str(self.binary), "--root", str(root), "pull", "--storage",
                               "ostree", "-q", f"http:{self.registry.host}/{ref}"])
        return seconds, rss

    @staticmethod
    def repo_of(root):
        repo = root / "var/lib/containers/atomic/.storage/ostree"
        if not (repo / "config").exists():
            raise BenchError(f"atomic left no OSTree repository at {repo}")
        return repo

    def atomic(self):
        """Cold pull + layer checkouts, then a re-pull of the unchanged image."""
        root = self.fresh("atomic")
        pull, rss = self.atomic_pull(root, "bench:v1")
        self.repo_of(root)
        checkout = run([str(self.binary), "--root", str(root), "install", "--system", "--name",
                        "bench", f"http:{self.registry.host}/bench:v1"])[0]
        self.check_rootfs(root / "var/lib/containers/atomic/bench.0/rootfs")
        os.sync()
        offset = self.registry.log_offset()
        repull, _ = self.atomic_pull(root, "bench:v1")
        return {"total": pull + checkout, "pull": pull, "checkout": checkout,
                "rss": rss, "repull": repull, "repull gets": self.registry.blob_gets_since(offset)}

    def atomic_small(self):
        """Cold pull of the ~50 MB image, for peak RSS against image size."""
        seconds, rss = self.atomic_pull(self.fresh("small"), "bench-small:v1")
        return {"total": seconds, "rss": rss}

    def v2_update(self):
        """Pulls v1 (untimed), then v2; returns fetched blobs and repository growth."""
        root = self.fresh("v2")
        self.atomic_pull(root, "bench:v1")
        repo = self.repo_of(root)
        os.sync()
        before_bytes, before_objects = du_bytes(repo), object_files(repo)
        offset = self.registry.log_offset()
        seconds, _ = self.atomic_pull(root, "bench:v2")
        gets = self.registry.blob_gets_since(offset)
        new_objects = object_files(repo) - before_objects
        return {"seconds": seconds, "gets": gets, "growth": du_bytes(repo) - before_bytes,
                "new objects": len(new_objects),
                "new file objects": sum(1 for p in new_objects if p.endswith(".file"))}


def object_files(repo):
    root = repo / "objects"
    return {os.path.relpath(os.path.join(d, n), root)
            for d, _, names in os.walk(root) for n in names}


PIPELINES = (("floor", Bench.floor), ("skopeo+umoci", Bench.skopeo_umoci),
             ("ostree CLI", Bench.ostree_cli), ("atomic", Bench.atomic),
             ("atomic small", Bench.atomic_small))


def run_rounds(bench, runs):
    results = {name: [] for name, _ in PIPELINES}
    for n in range(1, runs + 1):
        for name, pipeline in PIPELINES:
            os.sync()
            try:
                result = pipeline(bench)
            except CommandFailed as e:
                e.stage = f"{name}, run {n}"
                raise
            results[name].append(result)
            details = ", ".join(f"{k} {v:.2f}" for k, v in result.items()
                                if isinstance(v, float) and k != "total")
            print(f"run {n}  {name:<13} {result['total']:7.2f} s  {details}", flush=True)
            bench.release()
    return results


# ---------------------------------------------------------------- report

def median(results, key):
    return statistics.median(r[key] for r in results)


def short(hexd):
    return f"sha256:{hexd[:12]}"


def describe(gets, meta):
    names = {meta["v1"]["config"]: "v1 config", meta["v2"]["config"]: "v2 config"}
    for tag in ("v1", "v2"):
        for n, h in enumerate(meta[tag]["layers"]):
            names.setdefault(h, f"layer {n + 1} ({tag})")
    return ", ".join(f"{short(h)} ({names.get(h, 'unknown')})" for h in gets) or "none"


def report(results, v2, meta, runs):
    floor = median(results["floor"], "total")
    floor_sync = median(results["floor"], "+sync")
    print(f"\n== pull benchmark: median of {runs} interleaved cold runs ==")
    print(f"{'pipeline':<40}{'median s':>10}{'x floor':>9}   runs (s)")
    rows = [("floor: curl | tar -xz", results["floor"], "total"),
            ("floor + one sync", results["floor"], "+sync"),
            ("skopeo copy + umoci unpack", results["skopeo+umoci"], "total"),
            ("ostree CLI: curl|tar, commit, checkout", results["ostree CLI"], "total"),
            ("atomic: pull + checkout", results["atomic"], "total"),
            ("  atomic pull", results["atomic"], "pull"),
            ("  install: compose + checkout + render", results["atomic"], "checkout")]
    for label, res, key in rows:
        m = median(res, key)
        print(f"{label:<40}{m:>10.2f}{m / floor:>9.2f}   "
              + " ".join(f"{r[key]:.2f}" for r in res))
    atomic = median(results["atomic"], "total")
    print(f"  atomic pull + checkout vs floor + one sync: {atomic / floor_sync:.2f}x")
    print("  note: `ostree commit` and atomic both run with libostree's default durability")
    for name, keys in (("skopeo+umoci", ("skopeo copy", "umoci unpack")),
                       ("ostree CLI", ("ostree init", "curl|tar", "ostree commit", "ostree checkout"))):
        print(f"  {name} phases (median s): "
              + ", ".join(f"{k} {median(results[name], k):.2f}" for k in keys))

    cold = median(results["atomic"], "pull")
    repull = median(results["atomic"], "repull")
    print(f"\nre-pull of unchanged v1 (same root): median {repull:.3f} s = "
          f"{100 * repull / cold:.1f}% of the cold atomic pull ({cold:.2f} s)")
    layer_set = set(meta["v1"]["layers"])
    for n, r in enumerate(results["atomic"], 1):
        gets = r["repull gets"]
        layer_gets = sum(1 for h in gets if h in layer_set)
        flag = "" if layer_gets == 0 else "   <-- UNEXPECTED: layer blobs fetched"
        print(f"  run {n}: {len(gets)} blob GET(s): {describe(gets, meta)}; "
              f"layer blob GETs {layer_gets}{flag}")

    expected = {meta["v2"]["config"]} | (set(meta["v2"]["layers"]) - layer_set)
    flag = "" if set(v2["gets"]) == expected and len(v2["gets"]) == len(expected) \
        else "   <-- UNEXPECTED: expected only the changed layer and the v2 config"
    print(f"\nv2 (layer 3 rewritten, {meta['v2']['changed_files']} of {meta['v2']['files']} files "
          f"changed, {meta['v2']['changed_bytes']:,} bytes) pulled over v1 in {v2['seconds']:.2f} s")
    print(f"  blob GETs: {len(v2['gets'])}: {describe(v2['gets'], meta)}{flag}")
    print(f"  repository growth (du -sb): {v2['growth']:,} bytes = "
          f"{v2['growth'] / meta['v2']['changed_bytes']:.2f}x the changed files' size; "
          f"new files under objects/: {v2['new objects']} ({v2['new file objects']} .file)")

    print("\npeak RSS of atomic pull (max RSS via os.wait4, median / max over runs):")
    for label, name, tag in (("~200 MB image", "atomic", "v1"), ("~50 MB image", "atomic small", "small")):
        rss = [r["rss"] / MB for r in results[name]]
        print(f"  {label} ({meta[tag]['bytes'] / MB:.0f} MB, {meta[tag]['files']} files): "
              f"{statistics.median(rss):.1f} / {max(rss):.1f} MB")


# ---------------------------------------------------------------- main

def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    default_atomic = Path(__file__).resolve().parents[2] / "target/release/atomic"
    parser = argparse.ArgumentParser(description="Benchmark atomic pull against its peers.")
    parser.add_argument("--runs", type=int, default=3, help="interleaved cold runs (default 3)")
    parser.add_argument("--atomic", type=Path, default=default_atomic, help="the atomic binary")
    parser.add_argument("--no-fresh-fs", action="store_true",
                        help="run every pipeline in /var/tmp, not on a new ext4 of its own")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("error: run as root (atomic's bare OSTree repository needs it)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not os.access(args.atomic, os.X_OK):
        missing.append(str(args.atomic))
    if missing:
        sys.exit(f"error: missing: {', '.join(missing)}")

    start = time.perf_counter()
    registry = work = bench = None
    try:
        print(f"nproc: {run(['nproc'])[2].strip()}, load average: {load()}")
        print(f"atomic --version: {run([str(args.atomic), '--version'])[2].strip()}")
        layout, meta = ensure_images()
        for tag in ("v1", "v2", "small"):
            m = meta[tag]
            print(f"image {tag}: {len(m['layers'])} layers, {m['files']} files, "
                  f"{m['bytes'] / MB:.1f} MB uncompressed, {m['compressed'] / MB:.1f} MB compressed")
        registry = Registry()
        print(f"registry on {registry.host}, pushing...", flush=True)
        for tag, ref in (("v1", "bench:v1"), ("v2", "bench:v2"), ("small", "bench-small:v1")):
            registry.push(layout, tag, ref)
        work = Path(tempfile.mkdtemp(prefix="atomic-bench-", dir="/var/tmp"))
        bench = Bench(args.atomic, registry, meta, work, not args.no_fresh_fs)
        results = run_rounds(bench, args.runs)
        try:
            v2 = bench.v2_update()
        except CommandFailed as e:
            e.stage = "atomic v2 update"
            raise
        report(results, v2, meta, args.runs)
        print(f"\ntotal benchmark time: {time.perf_counter() - start:.0f} s; load average now: "
              f"{load()} (runs interleaved, `sync` before each pipeline, "
              f"{'each on a new ext4' if bench.fresh_fs else 'all in /var/tmp'}, caches not dropped)")
    except CommandFailed as e:
        print(f"\nFAILED{f' ({e.stage})' if e.stage else ''}: {e}\nstderr:\n{e.stderr}",
              file=sys.stderr)
        sys.exit(1)
    except BenchError as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        if bench:
            try:
                bench.release()
            except CommandFailed as e:
                print(f"cannot release a run's filesystem: {e}\n{e.stderr}", file=sys.stderr)
        if registry:
            registry.stop()
        if work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
