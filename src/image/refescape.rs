//! Reversible encoding of image names into OSTree ref components: every byte
//! other than `[A-Za-z0-9.-]` becomes `_` and two upper-case hex digits.

use anyhow::{bail, Result};

/// The ref prefix of every image, layer and config commit.
pub const PREFIX: &str = "ociimage";

/// Encodes `name` (`docker.io/busybox:latest` -> `docker.io_2Fbusybox_3Alatest`).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// Decodes what [`encode`] produced.
pub fn decode(encoded: &str) -> Result<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = encoded.get(i + 1..i + 3).filter(|h| {
                h.bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            });
            let Some(hex) = hex else {
                bail!("invalid escape at byte {i} of ref {encoded:?}");
            };
            out.push(u8::from_str_radix(hex, 16)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

/// The ref of an image name.
pub fn image_ref(name: &str) -> String {
    format!("{PREFIX}/{}", encode(name))
}

/// The ref of a layer or config blob, by its sha256 hex digest.
pub fn blob_ref(hex: &str) -> String {
    format!("{PREFIX}/{hex}")
}

/// Whether a ref component names a blob (64 lower-case hex digits) rather
/// than an image (image names always contain an escaped `/` or `:`).
pub fn is_blob_component(component: &str) -> bool {
    component.len() == 64
        && component
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        assert_eq!(
            image_ref("docker.io/busybox:latest"),
            "ociimage/docker.io_2Fbusybox_3Alatest"
        );
        assert_eq!(
            decode("docker.io_2Fbusybox_3Alatest").unwrap(),
            "docker.io/busybox:latest"
        );
    }

    /// A small deterministic generator, so failures reproduce.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn round_trip_property() {
        let alphabet: Vec<char> = "aZ09.-_/:@+ %é€\u{1F600}\0\n".chars().collect();
        let mut rng = Lcg(42);
        for _ in 0..20_000 {
            let len = rng.next() % 24;
            let s: String = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            let e = encode(&s);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{e:?} is not a valid ref component"
            );
            assert_eq!(decode(&e).unwrap(), s);
        }
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for bad in ["_", "_2", "_2f", "_ZZ", "a_G0"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_names_never_look_like_blobs() {
        let name = "a".repeat(60) + ":tag";
        assert!(!is_blob_component(&encode(&name)));
        assert!(is_blob_component(&"0123456789abcdef".repeat(4)));
    }
}
