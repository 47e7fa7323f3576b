//! Any bytes given to the digest parser end in a model or an error with a
//! line number, never a panic, a hang or unbounded memory.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = hotpapers::digest::parse_bytes(Path::new("fuzz.md"), data) {
        let line = e.line().expect("syntax errors carry a line");
        assert!(line >= 1);
        assert!(e.to_string().starts_with("fuzz.md:"));
    }
});
