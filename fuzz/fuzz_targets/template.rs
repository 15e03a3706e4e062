//! The template engine on any text and values: no panic, bounded output,
//! and no value adds a line to a line-oriented file.
#![no_main]

use atomic::render::template::{self, FileKind};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line holds values (`K=V` separated by `;`), the rest is the template.
    let (values, body) = text.split_once('\n').unwrap_or(("", &text));
    let mut v: BTreeMap<String, String> = values
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if template::resolve(&mut v).is_err() {
        return;
    }
    let total: usize = v.values().map(String::len).sum();
    assert!(total <= template::VALUES_LIMIT);
    for kind in [FileKind::Json, FileKind::Lines, FileKind::Text] {
        if let Ok(out) = template::render(body, &v, kind, "fuzz") {
            assert!(out.len() <= body.len() + total * body.matches('$').count().max(1));
            if kind == FileKind::Lines {
                // A value never adds a line break.
                assert_eq!(
                    out.matches('\n').count(),
                    body.replace("$$", "").matches('\n').count()
                );
            }
        }
    }
});
