//! Citations: a paper of the model as a BibTeX entry (for the day's
//! `papers.bib`) and as a `COinS` `ContextObject` (the `title` of a
//! `<span class="Z3988">` on the day page, which Zotero and other reference
//! managers read as one item per paper).
//!
//! Beside the flow, like [`crate::html`]: pure functions of [`crate::model`]
//! that `render` (the `COinS` spans in the paper fragment) and `site` (the
//! `papers.bib` files) share; no I/O, no templates, no clock, so the same
//! paper always gives the same bytes.
//!
//! Titles and names come from digests and may hold anything: TeX (`$SU(N)$`,
//! `\cap`) is kept, characters special to TeX that are not TeX (`&`, `%`,
//! `#`, `_` outside math, a lone `$`, braces that do not pair) are escaped, so
//! that no value can close its BibTeX field or start a comment, and the entry
//! still parses and typesets.

use std::fmt::Write;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::model::{ArxivId, Digest, Paper};

/// The day's bibliography: one `@misc` entry per paper, in rank order,
/// separated by blank lines (the bytes of `YYYY-MM-DD/papers.bib`). Two papers
/// with the same arXiv id get distinct keys (the second one's ends in its
/// rank), so the file has exactly one entry per paper of the day.
#[must_use]
pub fn bibliography(digest: &Digest) -> String {
    let mut papers: Vec<&Paper> = digest.papers.iter().collect();
    papers.sort_by_key(|p| p.rank);
    let mut used = std::collections::HashSet::new();
    let mut out = String::new();
    for paper in papers {
        let mut key = bibtex_key(&paper.arxiv_id);
        if !used.insert(key.clone()) {
            key = format!("{key}-{}", paper.rank);
            used.insert(key.clone());
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&entry_with_key(paper, &key));
    }
    out
}

/// One paper as a BibTeX `@misc` entry, ending in a newline:
///
/// ```text
/// @misc{arXiv:2102.06171,
///   author        = {Brock, Andrew and De, Soham and Smith, Samuel L. and Simonyan, Karen},
///   title         = {{High-Performance Large-Scale Image Recognition Without Normalization}},
///   year          = {2021},
///   eprint        = {2102.06171},
///   archivePrefix = {arXiv},
///   primaryClass  = {cs.LG},
///   url           = {https://arxiv.org/abs/2102.06171}
/// }
/// ```
///
/// The title is braced twice so that BibTeX styles keep its capitalisation;
/// `author` is left out when the digest names nobody, `primaryClass` when it
/// gives no category.
#[must_use]
pub fn bibtex_entry(paper: &Paper) -> String {
    entry_with_key(paper, &bibtex_key(&paper.arxiv_id))
}

fn entry_with_key(paper: &Paper, key: &str) -> String {
    let mut fields: Vec<(&str, String)> = Vec::new();
    let authors: Vec<String> = paper
        .authors
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| bibtex_name(a))
        .collect();
    if !authors.is_empty() {
        fields.push(("author", authors.join(" and ")));
    }
    fields.push(("title", format!("{{{}}}", tex_text(&paper.title))));
    fields.push(("year", arxiv_year(&paper.arxiv_id).to_string()));
    fields.push(("eprint", paper.arxiv_id.as_str().to_owned()));
    fields.push(("archivePrefix", "arXiv".to_owned()));
    if let Some(primary) = paper.categories.first() {
        fields.push(("primaryClass", primary.as_str().to_owned()));
    }
    fields.push(("url", paper.canonical_url()));

    let mut out = format!("@misc{{{key},\n");
    for (i, (name, value)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {name:<13} = {{{value}}}{comma}");
    }
    out.push_str("}\n");
    out
}

/// The entry key: `arXiv:` and the identifier (`arXiv:2102.06171`); an
/// old-style identifier's `/` becomes `_` (`arXiv:hep-th_9901001`), since
/// some tools take a slash in a key for a path.
#[must_use]
pub fn bibtex_key(id: &ArxivId) -> String {
    format!("arXiv:{}", id.as_str().replace('/', "_"))
}

/// The year of the first version, read from the identifier: `2102.06171` is
/// from 2021, `hep-th/9901001` from 1999 (arXiv started in 1991).
#[must_use]
pub fn arxiv_year(id: &ArxivId) -> u32 {
    let s = id.as_str();
    let digits = s.rsplit_once('/').map_or(s, |(_, n)| n);
    let yy: u32 = digits.get(..2).and_then(|d| d.parse().ok()).unwrap_or(0);
    if yy >= 91 {
        1900 + yy
    } else {
        2000 + yy
    }
}

/// A name as the paper lists it ("Ludwig van Beethoven") in BibTeX form
/// ("van Beethoven, Ludwig"): the last word and the particles before it (any
/// lowercase word, and capitalised ones such as `De`, `Van`, `Di`) are the
/// last name, a `Jr.`/`III` suffix goes in the middle part ("King, Jr.,
/// Martin Luther"). A single word stays as it is ("Plato"); a collaboration
/// ("The ATLAS Collaboration") or a name holding ` and ` or a comma is braced
/// whole, so that BibTeX neither splits nor reorders it; "et al." becomes
/// `others`. Every part is escaped as [`tex_text`].
#[must_use]
pub fn bibtex_name(name: &str) -> String {
    let name = collapse_whitespace(name);
    if is_et_al(&name) {
        return "others".to_owned();
    }
    let words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
    let and_word = words.iter().any(|w| w.eq_ignore_ascii_case("and"));
    if words.len() < 2 || and_word || name.contains(',') || is_organisation(&words) {
        let text = tex_text(&name);
        return if words.len() < 2 && !and_word && !name.contains(',') {
            text
        } else {
            format!("{{{text}}}")
        };
    }
    let parts = split_name(&words);
    let last = tex_text(&parts.last);
    let first = tex_text(&parts.first);
    match parts.suffix {
        Some(suffix) => format!("{last}, {}, {first}", tex_text(suffix)),
        None => format!("{last}, {first}"),
    }
}

/// A name split into BibTeX's parts.
struct NameParts<'a> {
    /// Given names: "Samuel L.".
    first: String,
    /// Particles and the family name: "van Beethoven".
    last: String,
    /// "Jr.", "III".
    suffix: Option<&'a str>,
}

/// Splits words (at least two) into first, last and suffix; `first` is never
/// empty.
fn split_name<'a>(words: &[&'a str]) -> NameParts<'a> {
    let mut words = words.to_vec();
    let suffix = if words.len() > 2 && words.last().is_some_and(|w| is_suffix(w)) {
        words.pop()
    } else {
        None
    };
    // The last word is the family name; particles before it join it, as long
    // as a given name is left.
    let mut start = words.len() - 1;
    while start > 1 && is_particle(words[start - 1]) {
        start -= 1;
    }
    NameParts {
        first: words[..start].join(" "),
        last: words[start..].join(" "),
        suffix,
    }
}

/// A word before the family name that belongs to it: any word starting in
/// lowercase (BibTeX's own "von" rule), or a capitalised particle.
fn is_particle(word: &str) -> bool {
    const CAPITALISED: &[&str] = &[
        "De", "Del", "Della", "Der", "Di", "Da", "Dos", "Das", "Du", "Van", "Von", "Ter", "Ten",
    ];
    word.chars().next().is_some_and(char::is_lowercase) || CAPITALISED.contains(&word)
}

fn is_suffix(word: &str) -> bool {
    matches!(
        word.trim_end_matches('.').to_ascii_lowercase().as_str(),
        "jr" | "sr" | "ii" | "iii" | "iv"
    )
}

fn is_et_al(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "et al" | "et al." | "others" | "et. al."
    )
}

/// Words that name a group rather than a person.
fn is_organisation(words: &[&str]) -> bool {
    const GROUP_WORDS: &[&str] = &[
        "collaboration",
        "consortium",
        "team",
        "group",
        "project",
        "initiative",
        "committee",
        "association",
        "society",
        "institute",
        "laboratory",
        "university",
    ];
    words
        .iter()
        .any(|w| GROUP_WORDS.contains(&w.to_lowercase().as_str()))
}

/// Text for a BibTeX field whose TeX is kept: whitespace runs (newlines too)
/// become one space; `&`, `%` and `#` are escaped unless they already are;
/// `$` pairs delimit math and an odd one out makes every `$` literal (`\$`);
/// outside math `_` becomes `\_` and `^` `\textasciicircum{}`; braces are
/// kept where they pair (plain with plain, `\{` with `\}`) and every other one
/// becomes `\textbraceleft{}`/`\textbraceright{}` (`\lbrace{}`/`\rbrace{}` in
/// math), so the value can neither end its field early nor leave it open; a
/// backslash that starts no command is `\textbackslash{}`.
#[must_use]
pub fn tex_text(text: &str) -> String {
    let text = collapse_whitespace(text);
    let chars: Vec<char> = text.chars().collect();
    let tokens = tokenize(&chars);
    let dollars = tokens.iter().filter(|t| matches!(t, Token::Dollar)).count();
    let math_allowed = dollars % 2 == 0;
    let paired = pair_braces(&tokens, math_allowed);
    let mut math = false;
    let mut out = String::with_capacity(text.len() + 8);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Dollar if math_allowed => {
                math = !math;
                out.push('$');
            }
            Token::Dollar => out.push_str("\\$"),
            Token::Brace { open, escaped } if paired[i] => {
                if *escaped {
                    out.push('\\');
                }
                out.push(if *open { '{' } else { '}' });
            }
            Token::Brace { open, .. } => out.push_str(match (*open, math) {
                (true, false) => "\\textbraceleft{}",
                (false, false) => "\\textbraceright{}",
                (true, true) => "\\lbrace{}",
                (false, true) => "\\rbrace{}",
            }),
            Token::Command(s) => out.push_str(s),
            Token::LoneBackslash => out.push_str("\\textbackslash{}"),
            Token::Char(c) => match c {
                '&' => out.push_str("\\&"),
                '%' => out.push_str("\\%"),
                '#' => out.push_str("\\#"),
                '_' if !math => out.push_str("\\_"),
                '^' if !math => out.push_str("\\textasciicircum{}"),
                c => out.push(*c),
            },
        }
    }
    out
}

/// A piece of a title as TeX reads it.
enum Token {
    /// An unescaped `$`.
    Dollar,
    /// `{`, `}`, `\{` or `\}`; BibTeX counts them all when it looks for the
    /// end of a field.
    Brace { open: bool, escaped: bool },
    /// A control word (`\cap`) or an escaped special (`\&`, `\\`, `\ `), kept.
    Command(String),
    /// A backslash at the end or before a character that starts no command.
    LoneBackslash,
    /// Anything else.
    Char(char),
}

fn tokenize(chars: &[char]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let token = match c {
            '$' => Token::Dollar,
            '{' | '}' => Token::Brace {
                open: c == '{',
                escaped: false,
            },
            '\\' => match chars.get(i) {
                Some(&b @ ('{' | '}')) => {
                    i += 1;
                    Token::Brace {
                        open: b == '{',
                        escaped: true,
                    }
                }
                Some(n) if n.is_ascii_alphabetic() => {
                    let mut word = String::from('\\');
                    while let Some(&n) = chars.get(i).filter(|n| n.is_ascii_alphabetic()) {
                        word.push(n);
                        i += 1;
                    }
                    Token::Command(word)
                }
                Some(&n) if n.is_ascii_punctuation() || n == ' ' => {
                    i += 1;
                    Token::Command(format!("\\{n}"))
                }
                _ => Token::LoneBackslash,
            },
            c => Token::Char(c),
        };
        tokens.push(token);
    }
    tokens
}

/// Which brace tokens pair up: an opening brace with the next closing one of
/// the same kind at the same depth, both inside or both outside the same
/// math. One stack for both kinds, since BibTeX counts `\{` as a brace too.
fn pair_braces(tokens: &[Token], math_allowed: bool) -> Vec<bool> {
    enum Mark {
        Open { at: usize, escaped: bool },
        Math,
    }
    let mut paired = vec![false; tokens.len()];
    let mut stack: Vec<Mark> = Vec::new();
    let mut math = false;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Dollar if math_allowed => {
                if math {
                    // A group opened in math and not closed there stays unpaired.
                    while let Some(Mark::Open { .. }) = stack.last() {
                        stack.pop();
                    }
                    stack.pop();
                } else {
                    stack.push(Mark::Math);
                }
                math = !math;
            }
            Token::Brace {
                open: true,
                escaped,
            } => stack.push(Mark::Open {
                at: i,
                escaped: *escaped,
            }),
            Token::Brace {
                open: false,
                escaped,
            } => {
                if let Some(&Mark::Open { at, escaped: kind }) = stack.last() {
                    if kind == *escaped {
                        stack.pop();
                        paired[i] = true;
                        paired[at] = true;
                    }
                }
            }
            _ => {}
        }
    }
    paired
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Characters left as they are in a KEV value: the unreserved ones of RFC 3986.
const KEV_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `COinS` `ContextObject` for a paper, in KEV form (`OpenURL` 1.0, Z39.88):
/// the journal format with genre `preprint`, the title as `rft.atitle` (not
/// `rft.title`, which that format reads as the journal's), `rft.jtitle`
/// "arXiv", one `rft.au` per author ("Last, First", as [`bibtex_name`] splits
/// it, without TeX escaping), `rft.date` (the year), the arXiv id (`info:arxiv/ID`) and the abs URL as `rft_id`s.
/// Every value is percent-encoded, so the result holds only unreserved
/// characters, `%`, `=` and `&`; it still needs HTML escaping (of the `&`s)
/// in a `title` attribute, which the template does.
#[must_use]
pub fn coins(paper: &Paper) -> String {
    let title = collapse_whitespace(&paper.title);
    let mut pairs: Vec<(&str, String)> = vec![
        ("ctx_ver", "Z39.88-2004".to_owned()),
        ("rft_val_fmt", "info:ofi/fmt:kev:mtx:journal".to_owned()),
        ("rft.genre", "preprint".to_owned()),
        ("rft.atitle", title),
        ("rft.jtitle", "arXiv".to_owned()),
    ];
    for author in paper.authors.iter().filter(|a| !a.trim().is_empty()) {
        pairs.push(("rft.au", coins_name(author)));
    }
    pairs.push(("rft.date", arxiv_year(&paper.arxiv_id).to_string()));
    pairs.push(("rft_id", format!("info:arxiv/{}", paper.arxiv_id.as_str())));
    pairs.push(("rft_id", paper.canonical_url()));
    pairs.push(("rfr_id", "info:sid/hotpapers".to_owned()));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, KEV_VALUE)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A name for `rft.au`: "Last, First" for a person, as it is otherwise.
fn coins_name(name: &str) -> String {
    let name = collapse_whitespace(name);
    let words: Vec<&str> = name.split(' ').collect();
    if words.len() < 2
        || name.contains(',')
        || is_et_al(&name)
        || is_organisation(&words)
        || words.iter().any(|w| w.eq_ignore_ascii_case("and"))
    {
        return name;
    }
    let parts = split_name(&words);
    match parts.suffix {
        Some(suffix) => format!("{}, {}, {suffix}", parts.last, parts.first),
        None => format!("{}, {}", parts.last, parts.first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Category;
    use chrono::NaiveDate;

    fn id(s: &str) -> ArxivId {
        ArxivId::parse(s).unwrap()
    }

    fn paper(title: &str, authors: &[&str]) -> Paper {
        Paper {
            rank: 1,
            title: title.to_owned(),
            authors: authors.iter().map(|&a| a.to_owned()).collect(),
            retweets: 1,
            favorites: 2,
            counted_at: NaiveDate::from_ymd_opt(2021, 2, 13)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
            arxiv_id: id("2102.06171"),
            abs_url: "https://arxiv.org/abs/2102.06171".to_owned(),
            pdf_url: None,
            categories: vec![
                Category::parse("cs.LG").unwrap(),
                Category::parse("cs.CV").unwrap(),
            ],
            abstract_text: String::new(),
            tweets: Vec::new(),
        }
    }

    #[test]
    fn a_name_is_written_last_name_first() {
        assert_eq!(bibtex_name("Andrew Brock"), "Brock, Andrew");
        assert_eq!(bibtex_name("Samuel L. Smith"), "Smith, Samuel L.");
        assert_eq!(bibtex_name("Jean-Pierre Serre"), "Serre, Jean-Pierre");
        assert_eq!(bibtex_name("  Ada \n Lovelace "), "Lovelace, Ada");
        assert_eq!(bibtex_name("Łukasz Kaiser"), "Kaiser, Łukasz");
    }

    #[test]
    fn particles_stay_with_the_last_name() {
        assert_eq!(bibtex_name("Ludwig van Beethoven"), "van Beethoven, Ludwig");
        assert_eq!(
            bibtex_name("Juan Carlos de la Fuente"),
            "de la Fuente, Juan Carlos"
        );
        assert_eq!(
            bibtex_name("Nicolaas Govert De Bruijn"),
            "De Bruijn, Nicolaas Govert"
        );
        assert_eq!(bibtex_name("Soham De"), "De, Soham");
        assert_eq!(bibtex_name("Hans van der Waals"), "van der Waals, Hans");
        // A particle alone before the last name is never taken for the
        // given name's place: something is left for `First`.
        assert_eq!(bibtex_name("van Beethoven"), "Beethoven, van");
    }

    #[test]
    fn a_suffix_goes_between_last_and_first() {
        assert_eq!(
            bibtex_name("Martin Luther King Jr."),
            "King, Jr., Martin Luther"
        );
        assert_eq!(bibtex_name("John Smith III"), "Smith, III, John");
        // Two words: "Jr" is then the last name, as the digest gave it.
        assert_eq!(bibtex_name("Bob Jr"), "Jr, Bob");
    }

    #[test]
    fn single_names_and_groups_are_kept_whole() {
        assert_eq!(bibtex_name("Plato"), "Plato");
        assert_eq!(
            bibtex_name("The ATLAS Collaboration"),
            "{The ATLAS Collaboration}"
        );
        assert_eq!(bibtex_name("Google Brain Team"), "{Google Brain Team}");
        assert_eq!(bibtex_name("Smith and Wesson"), "{Smith and Wesson}");
        assert_eq!(bibtex_name("Doe, Jane"), "{Doe, Jane}");
        assert_eq!(bibtex_name("et al."), "others");
    }

    #[test]
    fn special_characters_in_names_are_escaped() {
        assert_eq!(bibtex_name("Eve & Co"), "Co, Eve \\&");
        assert_eq!(bibtex_name("R2_D2 Droid%"), "Droid\\%, R2\\_D2");
        assert_eq!(
            bibtex_name("Mallory }Evil"),
            "\\textbraceright{}Evil, Mallory"
        );
        assert_eq!(bibtex_name("X {Y"), "\\textbraceleft{}Y, X");
        assert_eq!(
            bibtex_name("Erwin Schr\\\"odinger"),
            "Schr\\\"odinger, Erwin"
        );
    }

    #[test]
    fn keys_come_from_the_arxiv_id() {
        assert_eq!(bibtex_key(&id("2102.06171")), "arXiv:2102.06171");
        assert_eq!(bibtex_key(&id("2102.06171v3")), "arXiv:2102.06171");
        assert_eq!(bibtex_key(&id("hep-th/9901001")), "arXiv:hep-th_9901001");
        assert_eq!(bibtex_key(&id("math.AG/0501001")), "arXiv:math.AG_0501001");
    }

    #[test]
    fn the_year_is_the_first_versions() {
        assert_eq!(arxiv_year(&id("2102.06171")), 2021);
        assert_eq!(arxiv_year(&id("0704.0001")), 2007);
        assert_eq!(arxiv_year(&id("hep-th/9901001")), 1999);
        assert_eq!(arxiv_year(&id("hep-th/0101001")), 2001);
        assert_eq!(arxiv_year(&id("hep-th/9108001")), 1991);
    }

    #[test]
    fn tex_in_a_title_is_kept() {
        for title in [
            "A Paper on $SU(N)$ Gauge Theories",
            "CLS = PPAD $\\cap$ PLS",
            "Semi-parametric $γ$-ray modeling",
            "The {BERT} model and $x_i^2$",
            "Escaped \\& already, 50\\% too, \\{set\\}",
        ] {
            assert_eq!(tex_text(title), title);
        }
    }

    #[test]
    fn characters_special_to_tex_are_escaped_where_they_are_not_tex() {
        assert_eq!(tex_text("Cats & Dogs"), "Cats \\& Dogs");
        assert_eq!(tex_text("100% sure #1"), "100\\% sure \\#1");
        assert_eq!(
            tex_text("snake_case and x^y"),
            "snake\\_case and x\\textasciicircum{}y"
        );
        assert_eq!(tex_text("$x_1$ vs y_1"), "$x_1$ vs y\\_1");
        assert_eq!(tex_text("costs $5"), "costs \\$5");
        assert_eq!(tex_text("$a$ and $b"), "\\$a\\$ and \\$b");
        assert_eq!(
            tex_text("line\nbreak\t and  spaces"),
            "line break and spaces"
        );
        assert_eq!(tex_text("quote \"this\" @here"), "quote \"this\" @here");
    }

    #[test]
    fn unbalanced_braces_are_neutralised() {
        assert_eq!(tex_text("a}b"), "a\\textbraceright{}b");
        assert_eq!(tex_text("a{b"), "a\\textbraceleft{}b");
        assert_eq!(tex_text("}{"), "\\textbraceright{}\\textbraceleft{}");
        assert_eq!(tex_text("{ok} }bad"), "{ok} \\textbraceright{}bad");
        assert_eq!(tex_text("$a}$"), "$a\\rbrace{}$");
        // A group does not start outside math and end inside it.
        assert_eq!(tex_text("{a $b}$"), "\\textbraceleft{}a $b\\rbrace{}$");
        assert_eq!(tex_text("{$\\alpha$}-helix"), "{$\\alpha$}-helix");
        // An escaped brace does not pair with a plain one.
        assert_eq!(tex_text("\\{a}"), "\\textbraceleft{}a\\textbraceright{}");
        assert_eq!(tex_text("trailing\\"), "trailing\\textbackslash{}");
        assert_eq!(tex_text("\\é"), "\\textbackslash{}é");
    }

    /// Braces in the output always balance, whatever the input.
    #[test]
    fn escaped_text_never_closes_its_field() {
        for title in [
            "}}}}", "{{{{", "\\}", "\\{", "}\\", "a\\}}b{", "%}", "$}{$", "\\\\}", "{\\}",
        ] {
            let text = tex_text(title);
            let mut depth = 0i32;
            for c in text.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                assert!(depth >= 0, "{title:?} gave {text:?}");
            }
            assert_eq!(depth, 0, "{title:?} gave {text:?}");
            assert!(!text.ends_with('\\'), "{title:?} gave {text:?}");
        }
    }

    #[test]
    fn an_entry_has_every_field() {
        let p = paper(
            "High-Performance Large-Scale Image Recognition Without Normalization",
            &[
                "Andrew Brock",
                "Soham De",
                "Samuel L. Smith",
                "Karen Simonyan",
            ],
        );
        assert_eq!(
            bibtex_entry(&p),
            "@misc{arXiv:2102.06171,
  author        = {Brock, Andrew and De, Soham and Smith, Samuel L. and Simonyan, Karen},
  title         = {{High-Performance Large-Scale Image Recognition Without Normalization}},
  year          = {2021},
  eprint        = {2102.06171},
  archivePrefix = {arXiv},
  primaryClass  = {cs.LG},
  url           = {https://arxiv.org/abs/2102.06171}
}
"
        );
    }

    #[test]
    fn an_entry_without_authors_or_categories_leaves_those_fields_out() {
        let mut p = paper("T", &[]);
        p.categories.clear();
        let entry = bibtex_entry(&p);
        assert!(!entry.contains("author"), "{entry}");
        assert!(!entry.contains("primaryClass"), "{entry}");
        assert!(entry.contains("  url           = {https://arxiv.org/abs/2102.06171}\n}\n"));
    }

    #[test]
    fn the_same_paper_twice_in_a_day_gets_two_keys() {
        let mut second = paper("Again", &["A B"]);
        second.rank = 2;
        let digest = Digest {
            title: "Hot Papers 2021-02-12".to_owned(),
            date: NaiveDate::from_ymd_opt(2021, 2, 12).unwrap(),
            end_date: None,
            published: chrono::DateTime::parse_from_rfc3339("2021-02-13T08:00:00Z").unwrap(),
            slug: "hot-papers-2021-02-12".to_owned(),
            draft: false,
            template: None,
            category: None,
            tags: Vec::new(),
            description: None,
            social_image: None,
            papers: vec![second, paper("First", &["C D"])],
        };
        let bib = bibliography(&digest);
        assert_eq!(bib.matches("@misc{").count(), 2);
        let first = bib.find("@misc{arXiv:2102.06171,").unwrap();
        let again = bib.find("@misc{arXiv:2102.06171-2,").unwrap();
        assert!(first < again, "rank order:\n{bib}");
        assert!(bib.contains("}\n\n@misc{"), "a blank line between entries");
    }

    #[test]
    fn coins_encode_every_value() {
        let p = paper(
            "Cats & Dogs = $x^2$ \"quoted\" <b>",
            &["Ludwig van Beethoven", "Plato"],
        );
        assert_eq!(
            coins(&p),
            "ctx_ver=Z39.88-2004\
             &rft_val_fmt=info%3Aofi%2Ffmt%3Akev%3Amtx%3Ajournal\
             &rft.genre=preprint\
             &rft.atitle=Cats%20%26%20Dogs%20%3D%20%24x%5E2%24%20%22quoted%22%20%3Cb%3E\
             &rft.jtitle=arXiv\
             &rft.au=van%20Beethoven%2C%20Ludwig\
             &rft.au=Plato\
             &rft.date=2021\
             &rft_id=info%3Aarxiv%2F2102.06171\
             &rft_id=https%3A%2F%2Farxiv.org%2Fabs%2F2102.06171\
             &rfr_id=info%3Asid%2Fhotpapers"
        );
    }

    #[test]
    fn coins_are_only_unreserved_characters_percent_equals_and_ampersands() {
        let p = paper("Tab\there\nnewline ü 😀 ' \" < > } {", &["Ünïcødé Nâme"]);
        let kev = coins(&p);
        assert!(
            kev.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%=&".contains(&b)),
            "{kev}"
        );
        assert!(kev.contains("rft.au=N%C3%A2me%2C%20%C3%9Cn%C3%AFc%C3%B8d%C3%A9"));
        assert!(kev.contains("rft.atitle=Tab%20here%20newline%20%C3%BC%20%F0%9F%98%80"));
    }
}
