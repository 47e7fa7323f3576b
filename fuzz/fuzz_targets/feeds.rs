//! Any digest that parses gives feeds a reader accepts: every XML document
//! (`atom.xml`, `rss.xml`, `papers.xml`, the category feeds, `feeds.opml`)
//! is well-formed XML 1.0 to a strict parser, and `feed.json` is JSON.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use hotpapers::config::{Config, SiteSettings};
use libfuzzer_sys::fuzz_target;

fn site() -> &'static SiteSettings {
    static SITE: OnceLock<SiteSettings> = OnceLock::new();
    SITE.get_or_init(|| {
        Config::builder()
            .site_url("https://hotpapers.example.org/")
            .build()
            .expect("valid settings")
            .site
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = hotpapers::digest::parse_bytes(Path::new("2021-03-01.md"), data) else {
        return;
    };
    let files = hotpapers::feed::build(&[parsed.digest], site())
        .unwrap_or_else(|e| panic!("a parsed digest must give feeds: {e}"));
    for file in files {
        let text = std::str::from_utf8(&file.bytes)
            .unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", file.path));
        if file.path.ends_with(".json") {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                panic!("{} is not JSON: {e}", file.path);
            }
        } else if let Err(e) = roxmltree::Document::parse(text) {
            panic!("{} is not XML: {e}", file.path);
        }
    }
});
