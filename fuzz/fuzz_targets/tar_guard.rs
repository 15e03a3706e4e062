//! The tar guard against tar-rs, differentially: whenever neither refuses
//! an archive, both must find the same entries.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = atomic::image::targuard::differential(data) {
        panic!("{e}");
    }
});
