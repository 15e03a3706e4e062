//! The signature policy against images signed by the real tools: skopeo
//! signs with a GPG key made here by gpg, pushes to the loopback registry
//! and writes its simple signatures into a `file:` lookaside store that
//! registries.d names; atomic pulls in the sandbox, whose `/etc` is its
//! own, with `--signature-policy`. Refused images leave the repository as
//! it was, and the error names the scope and the requirement.

use crate::bench;

use bench::registry::Registry;
use bench::sandbox::Sandbox;
use bench::{check, fixtures, require_root, run};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One test's world: a registry, a GPG home with keys, a lookaside
/// store, registries.d entries (for skopeo, and in the sandbox's /etc for
/// atomic) and a checkout root of its own.
struct World {
    h: &'static Sandbox,
    registry: Registry,
    dir: tempfile::TempDir,
}

impl World {
    fn new(sigstore_attachments: bool) -> World {
        require_root();
        let h = Sandbox::shared();
        let registry = Registry::start();
        let dir = h.tempdir();
        let w = World { h, registry, dir };
        std::fs::create_dir_all(w.path("gnupg")).unwrap();
        std::fs::create_dir_all(w.path("registries.d")).unwrap();
        let mut yaml = format!(
            "docker:\n  \"{}\":\n    lookaside: file://{}\n",
            w.registry.host(),
            w.path("lookaside").display()
        );
        if sigstore_attachments {
            yaml.push_str("    use-sigstore-attachments: true\n");
        }
        std::fs::write(w.path("registries.d/test.yaml"), &yaml).unwrap();
        let inside = h.path("/etc/containers/registries.d");
        std::fs::create_dir_all(&inside).unwrap();
        let port = w.registry.host().rsplit(':').next().unwrap().to_string();
        std::fs::write(inside.join(format!("atomic-test-{port}.yaml")), &yaml).unwrap();
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A new GPG key; returns its fingerprint, its public key exported to
    /// `NAME.gpg`.
    fn gpg_key(&self, name: &str) -> String {
        self.gpg_key_expiring(name, "never")
    }

    /// [`World::gpg_key`] with gpg's expiry (`never`, `1d`, ...).
    fn gpg_key_expiring(&self, name: &str, expiry: &str) -> String {
        let gpg = || {
            let mut c = Command::new("gpg");
            c.env("GNUPGHOME", self.path("gnupg")).args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ]);
            c
        };
        let uid = format!("{name} <{name}@example.com>");
        check(gpg().args(["--quick-gen-key", &uid, "ed25519", "sign", expiry]));
        let listing = check(gpg().args(["--with-colons", "--list-keys", &uid]));
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap_or_else(|| panic!("no fingerprint in {listing}"))
            .to_string();
        let out = run(gpg().args(["--export", &fpr]));
        assert!(out.status.success() && !out.stdout.is_empty());
        std::fs::write(self.path(&format!("{name}.gpg")), out.stdout).unwrap();
        fpr
    }

    /// Pushes `layout:1.0` as `team/NAME:1.0`, signed by `fpr` when given;
    /// returns the reference atomic pulls (`http:HOST/team/NAME:1.0`).
    fn push(&self, layout: &Path, name: &str, fpr: Option<&str>) -> String {
        let reference = format!("{}/team/{name}:1.0", self.registry.host());
        let mut c = Command::new("skopeo");
        c.env("GNUPGHOME", self.path("gnupg"))
            .args([
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--registries.d",
            ])
            .arg(self.path("registries.d"));
        if let Some(f) = fpr {
            c.args(["--sign-by", f]);
        }
        check(
            c.arg(format!("oci:{}:1.0", layout.display()))
                .arg(format!("docker://{reference}")),
        );
        format!("http:{reference}")
    }

    /// Pushes `layout:tag` unsigned as `team/NAME:1.0`; the reference.
    fn push_tag(&self, layout: &Path, tag: &str, name: &str) -> String {
        let reference = format!("{}/team/{name}:1.0", self.registry.host());
        check(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("docker://{reference}")),
        );
        format!("http:{reference}")
    }

    /// The lookaside directory of the image `name` pushed as `digest`.
    fn lookaside_of(&self, name: &str, digest: &str) -> PathBuf {
        self.path(&format!(
            "lookaside/team/{name}@{}",
            digest.replacen(':', "=", 1)
        ))
    }

    /// A new policy file holding `json`.
    fn policy(&self, json: &str) -> PathBuf {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let p = self.path(&format!("policy-{n}.json"));
        std::fs::write(&p, json).unwrap();
        p
    }

    /// A policy whose registry scope is `requirement`, rejecting the rest.
    fn scoped(&self, requirement: &str) -> PathBuf {
        self.policy(&format!(
            r#"{{"default": [{{"type": "reject"}}],
                "transports": {{"docker": {{"{}": [{requirement}]}}}}}}"#,
            self.registry.host()
        ))
    }

    fn atomic(&self, args: &[&str]) -> Output {
        run(self
            .h
            .atomic()
            .env("ATOMIC_OSTREE_CHECKOUT_PATH", self.path("root"))
            .args(args))
    }

    /// `key` (`name`, `id`) of every stored image, as `images list --json` says.
    fn images(&self, key: &str) -> Vec<String> {
        let list = self.atomic(&["images", "list", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&list.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn pull(&self, policy: &Path, image: &str) -> Output {
        self.atomic(&[
            "pull",
            "--storage",
            "ostree",
            "--signature-policy",
            policy.to_str().unwrap(),
            image,
        ])
    }

    fn accepted(&self, policy: &Path, image: &str) {
        let out = self.pull(policy, image);
        assert!(
            out.status.success(),
            "{image} refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every ref of the repository and the commit it names.
    fn refs(&self) -> BTreeSet<(PathBuf, String)> {
        let mut out = BTreeSet::new();
        let top = self.path("root/.storage/ostree/refs/heads");
        let mut stack = vec![top.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.map(Result::unwrap) {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    let commit = std::fs::read_to_string(e.path()).unwrap();
                    out.insert((e.path().strip_prefix(&top).unwrap().to_path_buf(), commit));
                }
            }
        }
        out
    }

    /// The pull is refused with `what` in its message, and no ref moves.
    fn refused(&self, policy: &Path, image: &str, what: &[&str]) -> String {
        let before = self.refs();
        let out = self.pull(policy, image);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{image} accepted");
        for w in what {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
        assert_eq!(self.refs(), before, "a refused pull moved refs");
        err
    }

    fn greeter(&self) -> PathBuf {
        let l = self.path("greeter");
        fixtures::greeter().write_oci(&l, "1.0");
        l
    }
}

fn signed_by(key: &Path) -> String {
    format!(
        r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}"#,
        key.display()
    )
}

/// The manifest digest of `image` in the registry.
fn digest_of(image: &str) -> String {
    use sha2::Digest;
    let reference = image.trim_start_matches("http:");
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    assert!(raw.status.success());
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&raw.stdout)))
}

#[test]
fn an_image_signed_with_the_policys_key_is_accepted_and_says_so() {
    let w = World::new(false);
    let fpr = w.gpg_key("signer");
    let image = w.push(&w.greeter(), "greeter", Some(&fpr));
    let digest = digest_of(&image);
    assert!(
        w.lookaside_of("greeter", &digest)
            .join("signature-1")
            .exists(),
        "skopeo wrote the signature where registries.d says"
    );
    let policy = w.scoped(&signed_by(&w.path("signer.gpg")));
    w.accepted(&policy, &image);
    let info = w.atomic(&["images", "info", &image]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains(&format!(
            "Signature policy: signedBy (key {fpr}) under transports.docker[\"{}\"] of {}",
            w.registry.host(),
            policy.display()
        )),
        "{text}"
    );
    // keyData and keyPaths name the same key.
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(w.path("signer.gpg")).unwrap());
    for req in [
        format!(r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyData": "{data}"}}"#),
        format!(
            r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["{}"], "signedIdentity": {{"type": "matchRepository"}}}}"#,
            w.path("signer.gpg").display()
        ),
    ] {
        w.accepted(&w.scoped(&req), &image);
    }
}

#[test]
fn tampered_foreign_and_unsigned_images_and_other_keys_are_refused() {
    let w = World::new(false);
    let fpr = w.gpg_key("signer");
    w.gpg_key("stranger");
    let image = w.push(&w.greeter(), "greeter", Some(&fpr));
    let digest = digest_of(&image);
    let policy = w.scoped(&signed_by(&w.path("signer.gpg")));
    let scope = format!(
        "requirement signedBy of transports.docker[\"{}\"]",
        w.registry.host()
    );

    // Another key.
    let theirs = w.scoped(&signed_by(&w.path("stranger.gpg")));
    w.refused(
        &theirs,
        &image,
        &[&scope, "not signed by any of the policy's keys"],
    );

    // Unsigned.
    let plain = w.path("plain");
    fixtures::no_exports().write_oci(&plain, "1.0");
    let unsigned = w.push(&plain, "plain", None);
    w.refused(
        &policy,
        &unsigned,
        &[&scope, "no simple-signing signatures"],
    );

    // A signature of another image, put where this one's would be.
    let plain_digest = digest_of(&unsigned);
    let theirs_dir = w.lookaside_of("plain", &plain_digest);
    std::fs::create_dir_all(&theirs_dir).unwrap();
    std::fs::copy(
        w.lookaside_of("greeter", &digest).join("signature-1"),
        theirs_dir.join("signature-1"),
    )
    .unwrap();
    w.refused(
        &policy,
        &unsigned,
        &[
            &scope,
            &format!("it signs manifest {digest}, not this image's {plain_digest}"),
        ],
    );

    // Tampered.
    let sig = w.lookaside_of("greeter", &digest).join("signature-1");
    let mut bytes = std::fs::read(&sig).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x55;
    std::fs::write(&sig, bytes).unwrap();
    let err = w.refused(&policy, &image, &[&scope, "signature 1:"]);
    // One sentence, naming the image, the requirement, the signature and
    // why: no library assertion.
    assert!(!err.contains("assertion"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("does not verify with key {fpr}"))
            || err.contains("not an OpenPGP message")
            || err.contains("decompressing the signature"),
        "{err}"
    );

    // reject, and what insecureAcceptAnything lets through.
    let reject = w.scoped(r#"{"type": "reject"}"#);
    w.refused(
        &reject,
        &unsigned,
        &[&format!(
            "requirement reject of transports.docker[\"{}\"]",
            w.registry.host()
        )],
    );
    let open = w.scoped(r#"{"type": "insecureAcceptAnything"}"#);
    w.accepted(&open, &unsigned);
}

#[test]
fn a_signature_for_another_identity_is_refused_unless_the_policy_remaps_it() {
    let w = World::new(false);
    let fpr = w.gpg_key("signer");
    let layout = w.greeter();
    let image = w.push(&layout, "greeter", Some(&fpr));
    // The same manifest under another name: its signature names team/greeter.
    let digest = digest_of(&image);
    let copy = w.push(&layout, "copy", None);
    assert_eq!(digest_of(&copy), digest);
    let dir = w.lookaside_of("copy", &digest);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        w.lookaside_of("greeter", &digest).join("signature-1"),
        dir.join("signature-1"),
    )
    .unwrap();
    let policy = w.scoped(&signed_by(&w.path("signer.gpg")));
    w.refused(
        &policy,
        &copy,
        &["which signedIdentity matchRepoDigestOrExact does not accept"],
    );
    let host = w.registry.host();
    let remap = w.scoped(&format!(
        r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}",
             "signedIdentity": {{"type": "remapIdentity", "prefix": "{host}/team/copy", "signedPrefix": "{host}/team/greeter"}}}}"#,
        w.path("signer.gpg").display()
    ));
    w.accepted(&remap, &copy);
}

/// A sigstore signature as containers/image attaches it: the payload as
/// the one layer of a `sha256-HEX.sig` manifest with the signature in its
/// `dev.cosignproject.cosign/signature` annotation. Debian's skopeo is
/// built without sigstore ("Debian-local change: sigstore disabled"), so
/// this STAND-IN signer writes the attachment as an OCI layout and skopeo
/// pushes it; the payload and signature are made here with the p256 crate.
fn attach_sigstore(
    w: &World,
    image: &str,
    key: &p256::ecdsa::SigningKey,
    claimed: &str,
    digest: &str,
) {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{claimed}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"creator":"atomic test stand-in signer"}}}}"#
    );
    let sig: p256::ecdsa::Signature = key.sign(payload.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
    let layout = w.path(&format!("sig-{}", &digest[7..19]));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        use sha2::Digest;
        let hex = hex::encode(sha2::Sha256::digest(data));
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let (pd, ps) = put(payload.as_bytes());
    let config = format!(
        r#"{{"architecture":"","os":"","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{pd}"]}}}}"#
    );
    let (cd, cs) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{pd}","size":{ps},"annotations":{{"dev.cosignproject.cosign/signature":"{b64}"}}}}]}}"#
    );
    let (md, ms) = put(manifest.as_bytes());
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{ms},"annotations":{{"org.opencontainers.image.ref.name":"sig"}}}}]}}"#
        ),
    )
    .unwrap();
    let repo = image
        .trim_start_matches("http:")
        .rsplit_once(':')
        .unwrap()
        .0;
    let tag = format!("{}.sig", digest.replacen(':', "-", 1));
    check(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:sig", layout.display()),
        &format!("docker://{repo}:{tag}"),
    ]));
}

#[test]
fn sigstore_signatures_from_registry_attachments() {
    let w = World::new(true);
    let image = w.push(&w.greeter(), "greeter", None);
    let digest = digest_of(&image);
    let claimed = image.trim_start_matches("http:").to_string();
    let key = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let other = p256::ecdsa::SigningKey::from_slice(&[0x24; 32]).unwrap();
    let pem = |k: &p256::ecdsa::SigningKey, name: &str| {
        use p256::pkcs8::EncodePublicKey;
        let text = k
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let p = w.path(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ours = pem(&key, "cosign.pub");
    let theirs = pem(&other, "other.pub");
    let requirement = |k: &Path| {
        format!(
            r#"{{"type": "sigstoreSigned", "keyPath": "{}", "signedIdentity": {{"type": "matchRepoDigestOrExact"}}}}"#,
            k.display()
        )
    };
    let scope = format!(
        "requirement sigstoreSigned of transports.docker[\"{}\"]",
        w.registry.host()
    );
    let policy = w.scoped(&requirement(&ours));
    w.refused(&policy, &image, &[&scope, "no sigstore signatures"]);

    attach_sigstore(&w, &image, &key, &claimed, &digest);
    w.refused(
        &w.scoped(&requirement(&theirs)),
        &image,
        &[&scope, "not signed by the policy's key"],
    );
    w.accepted(&policy, &image);
    let info = String::from_utf8_lossy(&w.atomic(&["images", "info", &image]).stdout).into_owned();
    assert!(
        info.contains("Signature policy: sigstoreSigned (public key)"),
        "{info}"
    );

    // A signature for another identity, under another image's tag.
    let plain = w.path("plain");
    fixtures::no_exports().write_oci(&plain, "1.0");
    let other_image = w.push(&plain, "plain", None);
    let other_digest = digest_of(&other_image);
    attach_sigstore(&w, &other_image, &key, &claimed, &other_digest);
    w.atomic(&["images", "delete", &image]);
    let err = w.refused(&policy, &other_image, &[&scope]);
    assert!(err.contains("does not accept"), "{err}");
}

#[test]
fn a_missing_or_malformed_policy_is_an_error_naming_the_file() {
    let w = World::new(false);
    let image = w.push(&w.greeter(), "greeter", None);
    let missing = w.path("nowhere/policy.json");
    let err = w.refused(&missing, &image, &[]);
    assert!(
        err.contains(&format!(
            "no signature policy: {} does not exist",
            missing.display()
        )),
        "{err}"
    );
    let bad = w.policy(r#"{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"x": [{"type": "signedBy"}]}}}"#);
    let err = w.refused(&bad, &image, &[]);
    assert!(
        err.contains(&format!(
            "signature policy {}: transports.docker.x[0]",
            bad.display()
        )),
        "{err}"
    );
}

/// A local image is stored as `localhost/NAME` whatever its metadata
/// calls itself: one that names itself after a registry image passes its
/// own (oci) scope, and the registry's name still means the registry's
/// image, pulled and checked against the registry's scope.
#[test]
fn a_local_image_named_after_a_registry_image_never_takes_its_place() {
    let w = World::new(false);
    w.gpg_key("signer");
    let host = w.registry.host();
    // An OCI layout whose one image calls itself HOST/team/greeter:1.0.
    let layout = w.path("impostor");
    fixtures::greeter().write_oci(&layout, &format!("{host}/team/greeter:1.0"));
    let policy = w.policy(&format!(
        r#"{{"default": [{{"type": "reject"}}],
            "transports": {{
                "docker": {{"{host}": [{}]}},
                "oci": {{"": [{{"type": "insecureAcceptAnything"}}]}}
            }}}}"#,
        signed_by(&w.path("signer.gpg"))
    ));
    w.accepted(&policy, &format!("oci:{}", layout.display()));
    let names = w.images("name");
    assert!(
        names.contains(&"localhost/team/greeter:1.0".to_string()),
        "{names:?}"
    );
    let reference = format!("{host}/team/greeter:1.0");
    let info = w.atomic(&["images", "info", &reference]);
    assert!(
        !info.status.success(),
        "the registry's name found the local image"
    );
    // The registry's image of that name, unsigned, is the registry's scope's.
    let unsigned = w.push(&w.greeter(), "greeter", None);
    w.refused(&policy, &unsigned, &["no simple-signing signatures"]);
}

#[test]
fn a_revoked_key_signs_nothing() {
    let w = World::new(false);
    let fpr = w.gpg_key("signer");
    let image = w.push(&w.greeter(), "greeter", Some(&fpr));
    // The revocation certificate gpg made with the key, imported as an
    // operator would once the key is compromised.
    let cert =
        std::fs::read_to_string(w.path(&format!("gnupg/openpgp-revocs.d/{fpr}.rev"))).unwrap();
    // gpg guards it with a ':' before its armor line.
    let start = cert.find(":-----BEGIN").unwrap();
    std::fs::write(w.path("revocation.asc"), &cert[start + 1..]).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", w.path("gnupg"))
            .args(["--batch", "--quiet"])
            .args(args))
    };
    assert!(
        gpg(&["--import", w.path("revocation.asc").to_str().unwrap()])
            .status
            .success()
    );
    let out = gpg(&["--export", &fpr]);
    std::fs::write(w.path("revoked.gpg"), out.stdout).unwrap();
    let policy = w.scoped(&signed_by(&w.path("revoked.gpg")));
    w.refused(&policy, &image, &[&format!("key {fpr}: revoked")]);
}

/// Expiry is judged now, as gpgme judges it, not at the signature's own
/// creation time, which the signer chooses: a key that expired signs
/// nothing even backdated into its lifetime; a signature past its own
/// expiration, or made in the future, is refused. The signer's clock is
/// gpg's `faked-system-time`, read from its gpg.conf by skopeo's gpgme.
#[test]
fn expired_keys_and_expired_or_future_signatures_sign_nothing() {
    let w = World::new(false);
    let conf = w.path("gnupg/gpg.conf");
    let cases = [
        (
            "20200101T000000",
            "1d",
            "",
            "backdated",
            "expired on 2020-01-02",
        ),
        (
            "20200101T000000",
            "never",
            "default-sig-expire 1d\n",
            "sigexpired",
            "the signature expired on 2020-01-02",
        ),
        (
            "20991231T000000",
            "never",
            "",
            "future",
            "made in the future",
        ),
    ];
    for (when, expiry, extra, name, expected) in cases {
        std::fs::write(&conf, format!("faked-system-time {when}\n{extra}")).unwrap();
        let fpr = w.gpg_key_expiring(name, expiry);
        let image = w.push(&w.greeter(), name, Some(&fpr));
        std::fs::remove_file(&conf).unwrap();
        let policy = w.scoped(&signed_by(&w.path(&format!("{name}.gpg"))));
        w.refused(&policy, &image, &[expected]);
    }
}

/// A tag that resolves to an image index is verified at the index's
/// digest, as `cosign sign` and `skopeo copy --all --sign-by` sign it:
/// with only the index signed, this host's instance is accepted; a
/// signature for another index is not.
#[test]
fn a_multi_arch_image_is_verified_at_its_index_digest() {
    let w = World::new(false);
    let fpr = w.gpg_key("signer");
    let layout = w.path("multi");
    let arch = atomic::image::source::host_arch();
    let other = if arch == "s390x" { "riscv64" } else { "s390x" };
    fixtures::greeter().write_oci(&layout, arch);
    fixtures::greeter_needs_var().write_oci(&layout, other);
    bench::image::make_index(&layout);
    let reference = format!("{}/team/multi:1.0", w.registry.host());
    check(
        Command::new("skopeo")
            .env("GNUPGHOME", w.path("gnupg"))
            .args([
                "copy",
                "--quiet",
                "--all",
                "--dest-tls-verify=false",
                "--registries.d",
            ])
            .arg(w.path("registries.d"))
            .args(["--sign-by", &fpr])
            .arg(format!("oci:{}:multi", layout.display()))
            .arg(format!("docker://{reference}")),
    );
    let image = format!("http:{reference}");
    let index = digest_of(&image);
    // Only the index's signature stays, as cosign leaves it.
    for e in std::fs::read_dir(w.path("lookaside/team")).unwrap() {
        let p = e.unwrap().path();
        if !p.ends_with(format!("multi@{}", index.replacen(':', "=", 1))) {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    assert!(w.lookaside_of("multi", &index).join("signature-1").exists());
    let policy = w.scoped(&signed_by(&w.path("signer.gpg")));
    w.accepted(&policy, &image);

    // The same signature placed for another index signs nothing there.
    let other_layout = w.path("multi2");
    fixtures::greeter_needs_var().write_oci(&other_layout, arch);
    bench::image::make_index(&other_layout);
    let second = w.push_tag(&other_layout, "multi", "multi2");
    std::fs::create_dir_all(w.lookaside_of("multi2", &digest_of(&second))).unwrap();
    std::fs::copy(
        w.lookaside_of("multi", &index).join("signature-1"),
        w.lookaside_of("multi2", &digest_of(&second))
            .join("signature-1"),
    )
    .unwrap();
    w.refused(&policy, &second, &[&format!("it signs manifest {index}")]);
}

/// A local path is resolved once, and everything is read through what it
/// resolved to: a symlink its owner flips between a trusted and a
/// rejected directory while pulls run never gets the rejected directory's
/// image accepted under the trusted directory's scope.
#[test]
fn a_local_path_flipped_during_pulls_is_judged_by_what_was_read() {
    let w = World::new(false);
    let (trusted, incoming) = (w.path("trusted"), w.path("incoming"));
    fixtures::greeter().write_oci(&trusted.join("img"), "1.0");
    let rejected = fixtures::greeter_needs_var().write_oci(&incoming.join("img"), "1.0");
    let policy = w.policy(&format!(
        r#"{{"default": [{{"type": "reject"}}],
            "transports": {{"oci": {{"{}": [{{"type": "insecureAcceptAnything"}}]}}}}}}"#,
        trusted.display()
    ));
    let link = w.path("link");
    std::os::unix::fs::symlink(&trusted, &link).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, link, tmp) = (stop.clone(), link.clone(), w.path("link.tmp"));
        std::thread::spawn(move || {
            let targets = [trusted, incoming];
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&targets[(i % 2) as usize], &tmp).unwrap();
                std::fs::rename(&tmp, &link).unwrap();
                // Flips a few milliseconds apart, varied: long enough for a
                // pull to read one side whole, short enough to land between
                // its reads and its judging.
                std::thread::sleep(std::time::Duration::from_micros(500 + (i * 7919) % 4000));
            }
        })
    };
    let image = format!("oci:{}:1.0", link.join("img").display());
    let mut accepted = 0;
    for _ in 0..40 {
        if w.pull(&policy, &image).status.success() {
            accepted += 1;
        }
        assert!(
            !w.images("id").contains(&rejected.image_id),
            "the rejected directory's image was accepted under the trusted scope"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
    eprintln!("{accepted} of 40 pulls read the trusted directory and were accepted");
}
