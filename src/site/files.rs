//! The small files a site is expected to have beside its pages: `robots.txt`
//! (crawlers kept off the forms and token links, pointed at the sitemap),
//! `sitemap.xml` (every page, for search engines) and the favicon, as SVG
//! for browsers that take it and as ICO for those that ask `/favicon.ico`.

use std::fmt::Write as _;

use super::{CategoryIndex, DaySummary};
use crate::config::SiteSettings;

/// One file to write: a path relative to the output folder and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// `robots.txt`, `sitemap.xml`, `favicon.svg`, `favicon.ico`.
    pub path: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The favicon: a page on the newsletter's red, readable at 16 pixels.
const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#b31b1b"/><path d="M4 3h6l2 2v8H4z" fill="#fff"/><path d="M6 7h4M6 9h4M6 11h3" stroke="#b31b1b" stroke-width="1"/></svg>
"##;

/// `robots.txt`, `sitemap.xml`, `favicon.svg` and `favicon.ico` for the
/// archive of `days` (oldest first, one per day) and its `categories`.
#[must_use]
pub fn site_files(
    days: &[&DaySummary],
    categories: &CategoryIndex<'_>,
    site: &SiteSettings,
) -> Vec<SiteFile> {
    vec![
        SiteFile {
            path: "robots.txt".to_owned(),
            bytes: robots(site).into_bytes(),
        },
        SiteFile {
            path: "sitemap.xml".to_owned(),
            bytes: sitemap(days, categories, site).into_bytes(),
        },
        SiteFile {
            path: "favicon.svg".to_owned(),
            bytes: FAVICON_SVG.as_bytes().to_vec(),
        },
        SiteFile {
            path: "favicon.ico".to_owned(),
            bytes: favicon_ico(),
        },
    ]
}

/// Crawlers may read the archive but not post the forms or follow the token
/// links (`serve`'s pages say `noindex` too, for crawlers that ignore this).
/// robots.txt is read only at the host's root: under a sub-path site the
/// operator copies these lines there.
fn robots(site: &SiteSettings) -> String {
    let base =
        url::Url::parse(&site.link("")).map_or_else(|_| "/".to_owned(), |u| u.path().to_owned());
    let mut out = String::from("User-agent: *\n");
    for path in [
        "subscribe",
        "confirm",
        "unsubscribe",
        "preferences",
        "search",
        "webhooks/",
        ".search/",
    ] {
        let _ = writeln!(out, "Disallow: {base}{path}");
    }
    let _ = writeln!(out, "\nSitemap: {}", site.link("sitemap.xml"));
    out
}

/// Every page of the archive, with each day's page dated by its digest.
fn sitemap(days: &[&DaySummary], categories: &CategoryIndex<'_>, site: &SiteSettings) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    let mut url = |loc: String, lastmod: Option<String>| {
        let loc = crate::html::escape(&loc).into_owned();
        match lastmod {
            Some(date) => {
                let _ = writeln!(out, "<url><loc>{loc}</loc><lastmod>{date}</lastmod></url>");
            }
            None => {
                let _ = writeln!(out, "<url><loc>{loc}</loc></url>");
            }
        }
    };
    url(site.link(""), days.last().map(|d| d.date.to_string()));
    url(site.link("categories/"), None);
    for digest in days.iter().rev() {
        let day = digest.date.format("%Y-%m-%d").to_string();
        url(site.link(&format!("{day}/")), Some(day));
    }
    for page in categories.pages() {
        url(site.link(&page.href()), None);
    }
    out.push_str("</urlset>\n");
    out
}

/// The favicon as a 16×16 ICO (one 32-bit BMP image): the SVG's shapes,
/// drawn pixel by pixel so no image library is needed for 1,150 bytes.
fn favicon_ico() -> Vec<u8> {
    const SIZE: u32 = 16;
    const RED: [u8; 4] = [0x1b, 0x1b, 0xb3, 0xff]; // BGRA
    const WHITE: [u8; 4] = [0xff, 0xff, 0xff, 0xff];
    const CLEAR: [u8; 4] = [0, 0, 0, 0];
    let pixel = |x: u32, y: u32| -> [u8; 4] {
        // Rounded corners: the corner pixel of each corner is transparent.
        let corner = (x == 0 || x == SIZE - 1) && (y == 0 || y == SIZE - 1);
        if corner {
            return CLEAR;
        }
        let page = (4..12).contains(&x) && (3..13).contains(&y) && !(x >= 10 && y < 3 + (x - 9));
        let line = (6..10).contains(&x) && matches!(y, 7 | 9) || (6..9).contains(&x) && y == 11;
        if page && !line {
            WHITE
        } else {
            RED
        }
    };
    let pixels = SIZE * SIZE * 4;
    let mask = SIZE * 4; // one bit per pixel, rows padded to 32 bits
    let image = 40 + pixels + mask;
    let mut ico = Vec::with_capacity(22 + image as usize);
    // ICONDIR: reserved, type 1 (icon), one image.
    ico.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
    // ICONDIRENTRY: 16×16, no palette, 1 plane, 32 bpp, size, offset 22.
    ico.extend_from_slice(&[16, 16, 0, 0, 1, 0, 32, 0]);
    ico.extend_from_slice(&image.to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes());
    // BITMAPINFOHEADER: the height counts the colour image and the mask.
    ico.extend_from_slice(&40u32.to_le_bytes());
    ico.extend_from_slice(&SIZE.to_le_bytes());
    ico.extend_from_slice(&(SIZE * 2).to_le_bytes());
    ico.extend_from_slice(&1u16.to_le_bytes());
    ico.extend_from_slice(&32u16.to_le_bytes());
    ico.extend_from_slice(&0u32.to_le_bytes()); // no compression
    ico.extend_from_slice(&(pixels + mask).to_le_bytes());
    ico.extend_from_slice(&[0; 16]); // resolution and palette: unused
    for y in (0..SIZE).rev() {
        for x in 0..SIZE {
            ico.extend_from_slice(&pixel(x, y));
        }
    }
    // The AND mask: all zero, the alpha channel decides.
    ico.extend(std::iter::repeat_n(0, mask as usize));
    ico
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ico_is_one_16_pixel_32_bit_image() {
        let ico = favicon_ico();
        assert_eq!(ico.len(), 22 + 40 + 16 * 16 * 4 + 64);
        assert_eq!(&ico[..6], &[0, 0, 1, 0, 1, 0]);
        assert_eq!(
            u32::from_le_bytes(ico[14..18].try_into().unwrap()) as usize,
            ico.len() - 22
        );
        assert_eq!(u32::from_le_bytes(ico[18..22].try_into().unwrap()), 22);
        assert_eq!(u16::from_le_bytes(ico[36..38].try_into().unwrap()), 32);
    }

    #[test]
    fn robots_keeps_crawlers_off_forms_and_names_the_sitemap() {
        let site = SiteSettings {
            url: url::Url::parse("https://example.org/hot/").unwrap(),
            title: "Hot Papers".to_owned(),
            subtitle: String::new(),
            language: "en".to_owned(),
            feed_limit: 10,
        };
        let robots = robots(&site);
        assert!(robots.contains("Disallow: /hot/unsubscribe\n"), "{robots}");
        assert!(robots.contains("Disallow: /hot/webhooks/\n"), "{robots}");
        assert!(
            robots.ends_with("Sitemap: https://example.org/hot/sitemap.xml\n"),
            "{robots}"
        );
    }
}
