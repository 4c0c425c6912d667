#![no_main]
//! The `--config` TOML parser and its mapping onto the server's settings: any text is a
//! configuration or an error that names the file, never a panic.
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A base directory that does not exist: files the text names are never found or created.
    let base = Path::new("/nonexistent/cofferd-fuzz");
    match cofferd::parse_config(text, Path::new("fuzz.toml"), base) {
        Ok(config) => {
            // Whatever parsed is a configuration the checker can judge.
            let _ = cofferd::validate_config(&config);
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
