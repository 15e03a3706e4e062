//! Image reference parsing on any string: no panic, and what parses as a
//! registry reference prints as a name that parses to the same reference.
#![no_main]

use atomic::image::name::{self, RegistriesConf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let conf = RegistriesConf::default();
    let _ = name::parse(s, &conf);
    let _ = name::candidates(s, &conf);
    if let Ok(r) = name::parse_reference(s, &conf) {
        let again = name::parse_reference(&r.name(), &conf).expect("a printed name parses");
        assert_eq!(again.name(), r.name());
    }
});
