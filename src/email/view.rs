//! The typed values templates see. Every field here is documented in the
//! README ("Templates") because template authors depend on the names; strict
//! mode turns a misspelled one into a start-up error.
//!
//! Personal values (the reader's address, name and unsubscribe link) are
//! rendered as placeholders and filled in afterwards, so one rendering (CSS
//! inlining included) serves every subscriber with the same filter.

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{MailSettings, SiteSettings};
use crate::links;
use crate::model::{Digest, Paper, PaperFilter, Selection};
use crate::tex::{self, HtmlOptions, MathOutput, Rich};

/// Authors listed before "et al." when a paper has more than [`MAX_AUTHORS`].
const SHOWN_AUTHORS: usize = 3;
/// Longest author list shown in full.
const MAX_AUTHORS: usize = 5;
/// Abstracts longer than this (in characters) are cut at a sentence boundary.
const ABSTRACT_LIMIT: usize = 600;
/// Titles in the hidden preheader, and its length limit in characters.
const PREHEADER_TITLES: usize = 3;
const PREHEADER_LIMIT: usize = 150;

/// Placeholder characters (Unicode private use) around a personal value's key.
/// They survive HTML escaping, CSS inlining and text wrapping unchanged.
pub(crate) const OPEN: char = '\u{E000}';
pub(crate) const CLOSE: char = '\u{E001}';

/// The personal values filled in after rendering, in placeholder order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Personal {
    Email,
    Name,
    Greeting,
    Unsubscribe,
    Preferences,
}

impl Personal {
    pub(crate) const ALL: [Personal; 5] = [
        Personal::Email,
        Personal::Name,
        Personal::Greeting,
        Personal::Unsubscribe,
        Personal::Preferences,
    ];

    fn key(self) -> char {
        match self {
            Personal::Email => 'E',
            Personal::Name => 'N',
            Personal::Greeting => 'G',
            Personal::Unsubscribe => 'U',
            Personal::Preferences => 'P',
        }
    }

    pub(crate) fn from_key(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == c)
    }

    pub(crate) fn placeholder(self) -> String {
        format!("{OPEN}{}{CLOSE}", self.key())
    }
}

/// Everything the newsletter templates (`email.html.hbs`, `email.txt.hbs`,
/// their partials) can use.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EmailView {
    /// Newsletter title (`HOTPAPERS_TITLE`).
    pub(crate) title: String,
    /// Newsletter subtitle.
    pub(crate) subtitle: String,
    /// Language tag for `<html lang>`.
    pub(crate) language: String,
    /// The digest's own title ("Hot Papers 2021-02-12").
    pub(crate) digest_title: String,
    /// Digest day, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// Digest day spelled out ("Friday, 12 February 2021").
    pub(crate) date_long: String,
    /// Papers in this email.
    pub(crate) paper_count: usize,
    /// "1 paper" / "16 papers".
    pub(crate) paper_count_label: String,
    /// Papers in the whole digest.
    pub(crate) total_papers: usize,
    /// True when the reader's filter left papers out.
    pub(crate) personalized: bool,
    /// Papers outside the reader's categories or retweet floor.
    pub(crate) filtered_out: usize,
    /// Papers cut by the reader's maximum.
    pub(crate) over_limit: usize,
    /// "7 more papers outside your categories", or null.
    pub(crate) filtered_note: Option<String>,
    /// "3 more papers beyond your limit of 5", or null.
    pub(crate) limit_note: Option<String>,
    /// The hidden preview line: the top paper titles.
    pub(crate) preheader: String,
    /// The best-ranked paper in this email.
    pub(crate) top_paper: PaperView,
    /// The papers, in digest order, with their original ranks.
    pub(crate) papers: Vec<PaperView>,
    /// Links to the site.
    pub(crate) links: Links,
    /// The reader.
    pub(crate) subscriber: SubscriberView,
    /// The reader's one-click unsubscribe page.
    pub(crate) unsubscribe_url: String,
    /// The reader's preferences page.
    pub(crate) preferences_url: String,
    /// Postal / contact line (`HOTPAPERS_POSTAL_ADDRESS`).
    pub(crate) postal_address: String,
    /// The sender's address.
    pub(crate) from_email: String,
    /// The week of a weekly edition; null in the daily one.
    pub(crate) week: Option<WeekView>,
}

/// Which week a weekly edition covers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WeekView {
    /// First day, `YYYY-MM-DD`.
    pub(crate) start: String,
    /// Last day, `YYYY-MM-DD`.
    pub(crate) end: String,
    /// "6–12 February 2021", "29 January – 4 February 2021".
    pub(crate) label: String,
    /// The ISO week of the last day, `2021-W06`.
    pub(crate) iso: String,
    /// The page of the week's last digest (the site when it had none).
    pub(crate) link: String,
    /// The days of the week that had a digest, oldest first.
    pub(crate) days: Vec<DayLink>,
}

/// One day of a week, with its page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DayLink {
    /// `YYYY-MM-DD`.
    pub(crate) date: String,
    /// "Monday 8 February".
    pub(crate) date_long: String,
    /// `SITE/YYYY-MM-DD/`.
    pub(crate) url: String,
}

impl WeekView {
    pub(crate) fn new(site: &SiteSettings, week: crate::model::Week, days: &[NaiveDate]) -> Self {
        use chrono::Datelike;
        let (s, e) = (week.start, week.end);
        let label = if (s.year(), s.month()) == (e.year(), e.month()) {
            format!("{}\u{2013}{}", s.format("%-d"), e.format("%-d %B %Y"))
        } else if s.year() == e.year() {
            format!("{} \u{2013} {}", s.format("%-d %B"), e.format("%-d %B %Y"))
        } else {
            format!(
                "{} \u{2013} {}",
                s.format("%-d %B %Y"),
                e.format("%-d %B %Y")
            )
        };
        let day_url = |d: &NaiveDate| site.link(&format!("{}/", d.format("%Y-%m-%d")));
        let mut days = days.to_vec();
        days.sort();
        Self {
            start: s.format("%Y-%m-%d").to_string(),
            end: e.format("%Y-%m-%d").to_string(),
            label,
            iso: week.iso_key(),
            link: days.last().map_or_else(|| site.url.to_string(), day_url),
            days: days
                .iter()
                .map(|d| DayLink {
                    date: d.format("%Y-%m-%d").to_string(),
                    date_long: d.format("%A %-d %B").to_string(),
                    url: day_url(d),
                })
                .collect(),
        }
    }
}

/// Links to the site and its feeds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Links {
    /// The site's home page.
    pub(crate) site: String,
    /// This digest's web page (`SITE/YYYY-MM-DD/`).
    pub(crate) digest: String,
    /// Atom feed.
    pub(crate) atom: String,
    /// RSS feed.
    pub(crate) rss: String,
    /// JSON Feed.
    pub(crate) json: String,
}

/// The reader, as templates see them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SubscriberView {
    /// The address the email goes to.
    pub(crate) email: String,
    /// Display name, or null.
    pub(crate) name: Option<String>,
    /// What the greeting calls them (first name or `greeting_name`), or null.
    pub(crate) greeting: Option<String>,
}

/// One paper.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaperView {
    /// Rank in the whole digest (kept when a filter drops papers).
    pub(crate) rank: u32,
    /// Title, plain text (TeX as Unicode).
    pub(crate) title: String,
    /// Canonical abs page.
    pub(crate) url: String,
    /// PDF link.
    pub(crate) pdf_url: String,
    /// arXiv identifier.
    pub(crate) arxiv_id: String,
    /// Every author.
    pub(crate) authors: Vec<String>,
    /// "A, B, C et al." for long lists, else all names.
    pub(crate) authors_short: String,
    /// arXiv categories, primary first.
    pub(crate) categories: Vec<CategoryView>,
    /// Retweets when counted.
    pub(crate) retweets: u64,
    /// Favorites when counted.
    pub(crate) favorites: u64,
    /// Full abstract, plain text (TeX as Unicode; may be empty).
    #[serde(rename = "abstract")]
    pub(crate) abstract_text: String,
    /// Abstract cut at a sentence boundary when long.
    pub(crate) abstract_short: String,
    /// `abstract_short` as HTML: escaped, with emphasis and links, math as
    /// Unicode (mail clients do not render MathML).
    pub(crate) abstract_short_html: String,
    /// True when `abstract_short` is cut (show "read more").
    pub(crate) abstract_truncated: bool,
    /// The most shared tweet, or null.
    pub(crate) tweet: Option<TweetView>,
    /// What of the reader's alerts the paper matched ("author Petar
    /// Veličković; keyword “graph”"), or null.
    pub(crate) alert: Option<String>,
}

/// One arXiv category.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CategoryView {
    /// "cs.LG".
    pub(crate) name: String,
    /// Its arXiv listing page.
    pub(crate) url: String,
}

/// A tweet quoted as text.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TweetView {
    /// Display name.
    pub(crate) author: String,
    /// Handle without `@`.
    pub(crate) handle: String,
    /// Status URL.
    pub(crate) url: String,
    /// `YYYY-MM-DD`, or null.
    pub(crate) date: Option<String>,
    /// Tweet text.
    pub(crate) text: String,
    /// Tweet text split into its lines (no empty lines).
    pub(crate) lines: Vec<String>,
    /// The same lines as HTML: escaped, their URLs links.
    pub(crate) lines_html: Vec<String>,
}

/// What the subject template can use.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SubjectView {
    /// Newsletter title.
    pub(crate) title: String,
    /// Digest day, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// Papers in this email.
    pub(crate) paper_count: usize,
    /// The best-ranked paper in this email.
    pub(crate) top_paper: PaperView,
    /// The reader.
    pub(crate) subscriber: SubscriberView,
    /// The week of a weekly edition; null in the daily one.
    pub(crate) week: Option<WeekView>,
}

/// What the confirmation templates can use.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfirmView {
    /// Newsletter title.
    pub(crate) title: String,
    /// Newsletter subtitle.
    pub(crate) subtitle: String,
    /// Language tag.
    pub(crate) language: String,
    /// The address asking to subscribe.
    pub(crate) email: String,
    /// The link that confirms.
    pub(crate) confirm_url: String,
    /// The site's home page.
    pub(crate) site_url: String,
    /// Postal / contact line.
    pub(crate) postal_address: String,
    /// The sender's address.
    pub(crate) from_email: String,
}

impl Links {
    pub(crate) fn new(site: &SiteSettings, day: NaiveDate) -> Self {
        Self {
            site: site.url.to_string(),
            digest: site.link(&format!("{}/", day.format("%Y-%m-%d"))),
            atom: site.link("atom.xml"),
            rss: site.link("rss.xml"),
            json: site.link("feed.json"),
        }
    }
}

impl EmailView {
    /// The view of `selection` for a reader with (or without) a name, with
    /// placeholders for the personal values. `None` when nothing is selected.
    pub(crate) fn new(
        site: &SiteSettings,
        mail: &MailSettings,
        digest: &Digest,
        filter: &PaperFilter,
        selection: &Selection<'_>,
        has_name: bool,
    ) -> Option<Self> {
        let papers: Vec<PaperView> = selection
            .papers
            .iter()
            .zip(
                selection
                    .matched
                    .iter()
                    .chain(std::iter::repeat(&Vec::new())),
            )
            .map(|(p, matched)| {
                let mut view = PaperView::new(p);
                view.alert = (!matched.is_empty()).then(|| clean(&matched.join("; ")));
                view
            })
            .collect();
        let top_paper = papers.first()?.clone();
        let filtered_note = (selection.filtered_out > 0).then(|| {
            let reason = match (filter.categories.is_empty(), filter.min_retweets) {
                (false, Some(min)) => {
                    format!(
                        "outside your categories or under {} retweets",
                        crate::templates::group_thousands(min)
                    )
                }
                (false, None) => "outside your categories".to_owned(),
                (true, Some(min)) => {
                    format!("under {} retweets", crate::templates::group_thousands(min))
                }
                (true, None) => "filtered out".to_owned(),
            };
            format!("{} {reason}", more_papers(selection.filtered_out))
        });
        let limit_note = (selection.over_limit > 0).then(|| {
            let limit = filter.max_papers.unwrap_or(mail.max_papers);
            if limit < mail.max_papers {
                format!(
                    "{} beyond your limit of {limit}",
                    more_papers(selection.over_limit)
                )
            } else {
                edition_limit_note(selection.over_limit, mail.max_papers)
            }
        });
        let preheader = preheader(&papers, "Today\u{2019}s");
        Some(Self {
            title: site.title.clone(),
            subtitle: site.subtitle.clone(),
            language: site.language.clone(),
            digest_title: digest.title.clone(),
            date: digest.date.format("%Y-%m-%d").to_string(),
            date_long: digest.date.format("%A, %-d %B %Y").to_string(),
            paper_count: papers.len(),
            paper_count_label: count_label(papers.len(), "paper"),
            total_papers: digest.papers.len(),
            personalized: selection.filtered_out + selection.over_limit > 0,
            filtered_out: selection.filtered_out,
            over_limit: selection.over_limit,
            filtered_note,
            limit_note,
            preheader,
            top_paper,
            papers,
            links: Links::new(site, digest.date),
            subscriber: SubscriberView::placeholders(has_name),
            unsubscribe_url: Personal::Unsubscribe.placeholder(),
            preferences_url: Personal::Preferences.placeholder(),
            postal_address: mail.postal_address.clone(),
            from_email: mail.from.email.to_string(),
            week: None,
        })
    }
}

impl SubscriberView {
    fn placeholders(has_name: bool) -> Self {
        Self {
            email: Personal::Email.placeholder(),
            name: has_name.then(|| Personal::Name.placeholder()),
            greeting: has_name.then(|| Personal::Greeting.placeholder()),
        }
    }
}

/// Content text for the email: without the placeholder characters (so digest
/// text can never be mistaken for a personal value), and with "mathematical"
/// letters and digits (𝐛𝐨𝐥𝐝, 𝑖𝑡𝑎𝑙𝑖𝑐, used in tweets as fake styling) folded to
/// plain ones, as Unicode compatibility normalization does: screen readers
/// spell them out symbol by symbol, and spam filters score words made of them.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c != OPEN && c != CLOSE)
        .map(fold_math_alphanumeric)
        .collect()
}

/// U+1D400..U+1D6A3: thirteen styles of A–Z a–z (52 code points each; the
/// gaps are unassigned). U+1D7CE..U+1D7FF: five styles of 0–9.
fn fold_math_alphanumeric(c: char) -> char {
    let code = u32::from(c);
    let folded = match code {
        0x1D400..=0x1D6A3 => {
            let i = (code - 0x1D400) % 52;
            if i < 26 {
                u32::from(b'A') + i
            } else {
                u32::from(b'a') + i - 26
            }
        }
        0x1D7CE..=0x1D7FF => u32::from(b'0') + (code - 0x1D7CE) % 10,
        _ => return c,
    };
    char::from_u32(folded).unwrap_or(c)
}

impl PaperView {
    fn new(p: &Paper) -> Self {
        let authors: Vec<String> = p.authors.iter().map(|a| clean(a)).collect();
        let authors_short = if authors.len() > MAX_AUTHORS {
            format!("{} et al.", authors[..SHOWN_AUTHORS].join(", "))
        } else {
            authors.join(", ")
        };
        let abstract_rich = Rich::parse(&clean(&p.abstract_text));
        let abstract_text = abstract_rich.text();
        let (abstract_short, abstract_truncated) = shorten_abstract(&abstract_text);
        let abstract_short_html = short_html(&abstract_rich, &abstract_text, &abstract_short);
        let lines: Vec<String> = clean(&t_text(p))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            rank: p.rank,
            title: tex::to_text(&clean(&p.title)),
            url: p.canonical_url(),
            pdf_url: p.arxiv_id.pdf_url(),
            arxiv_id: p.arxiv_id.to_string(),
            authors,
            authors_short,
            categories: p
                .categories
                .iter()
                .map(|c| CategoryView {
                    name: c.to_string(),
                    url: c.list_url(),
                })
                .collect(),
            retweets: p.retweets,
            favorites: p.favorites,
            abstract_text,
            abstract_short,
            abstract_short_html,
            abstract_truncated,
            alert: None,
            tweet: p.lead_tweet().map(|t| TweetView {
                author: clean(&t.author),
                handle: clean(&t.handle),
                url: t.url.clone(),
                date: t.date.map(|d| d.format("%Y-%m-%d").to_string()),
                text: clean(&t.text),
                lines_html: lines.iter().map(|l| links::html(l).into_owned()).collect(),
                lines,
            }),
        }
    }
}

/// The lead tweet's text ("" without one).
fn t_text(p: &Paper) -> String {
    p.lead_tweet().map(|t| t.text.clone()).unwrap_or_default()
}

/// `short` (the start of `full`, perhaps with an ellipsis) as mail HTML:
/// the spans of `rich` as far as `short` follows `full`, then the rest of
/// `short` as text.
fn short_html(rich: &Rich, full: &str, short: &str) -> String {
    let same = full
        .chars()
        .zip(short.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let mut html = rich.truncated(same).html(HtmlOptions {
        math: MathOutput::Unicode,
        links: true,
    });
    let rest: String = short.chars().skip(same).collect();
    html.push_str(&crate::html::escape(&rest));
    html
}

/// "3 more papers beyond this email's limit of 20 (all of them are on the
/// site)": the note for a cut the reader did not ask for.
pub(crate) fn edition_limit_note(over: usize, limit: usize) -> String {
    format!(
        "{} beyond this email's limit of {limit} (all of them are on the site)",
        more_papers(over)
    )
}

fn more_papers(n: usize) -> String {
    format!("{n} more {}", if n == 1 { "paper" } else { "papers" })
}

fn count_label(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The hidden preview line inbox lists show after the subject. It is a
/// sentence, because text-mode readers (w3m, lynx) ignore `display: none`
/// and show it as the first line: "Today’s top papers: “A”, “B”, “C” and
/// 13 more." Cut to [`PREHEADER_LIMIT`] characters at a word.
/// `when` says whose papers: "Today’s", "This week’s".
pub(crate) fn preheader(papers: &[PaperView], when: &str) -> String {
    let shown = papers.len().min(PREHEADER_TITLES);
    let quoted: Vec<String> = papers[..shown]
        .iter()
        .map(|p| format!("\u{201c}{}\u{201d}", p.title))
        .collect();
    let more = papers.len() - shown;
    let list = match (quoted.as_slice(), more) {
        ([], _) => return String::new(),
        ([one], 0) => return shorten_at_word(&format!("{when} paper: {one}."), PREHEADER_LIMIT),
        ([rest @ .., last], 0) => format!("{} and {last}", rest.join(", ")),
        (titles, more) => format!("{} and {more} more", titles.join(", ")),
    };
    shorten_at_word(&format!("{when} top papers: {list}."), PREHEADER_LIMIT)
}

/// `text` if it fits in `limit` characters, else cut at the last space that
/// leaves room for an ellipsis.
pub(crate) fn shorten_at_word(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > 0 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([' ', ',', ':', ';', '-', '·']))
}

/// The abstract cut after the last sentence that ends within
/// [`ABSTRACT_LIMIT`] characters (or at a word if no sentence ends early
/// enough), and whether it was cut.
fn shorten_abstract(text: &str) -> (String, bool) {
    if text.chars().count() <= ABSTRACT_LIMIT {
        return (text.to_owned(), false);
    }
    let head: String = text.chars().take(ABSTRACT_LIMIT).collect();
    let sentence_end = head
        .char_indices()
        .filter(|&(i, c)| {
            matches!(c, '.' | '?' | '!')
                && head[i + c.len_utf8()..].starts_with(' ')
                && !ends_with_abbreviation(&head[..i])
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    match sentence_end {
        // A sentence boundary that keeps at least a third of the budget.
        Some(end) if end >= ABSTRACT_LIMIT / 3 => (head[..end].to_owned(), true),
        _ => (shorten_at_word(text, ABSTRACT_LIMIT), true),
    }
}

/// Whether the text before a period ends with a common abbreviation ("e.g",
/// "et al", "Fig") rather than a sentence.
fn ends_with_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let word = word.to_ascii_lowercase();
    matches!(
        word.as_str(),
        "e.g"
            | "i.e"
            | "al"
            | "fig"
            | "figs"
            | "eq"
            | "eqs"
            | "vs"
            | "cf"
            | "etc"
            | "resp"
            | "approx"
            | "sec"
            | "ref"
    ) || (word.len() == 1 && word.chars().all(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_abstracts_are_cut_after_a_sentence() {
        let sentence = "This sentence has exactly some words in it, e.g. these ones. ";
        let text = sentence.repeat(20);
        let (short, cut) = shorten_abstract(&text);
        assert!(cut);
        assert!(short.ends_with("these ones."), "{short}");
        assert!(short.chars().count() <= ABSTRACT_LIMIT);
    }

    #[test]
    fn short_abstracts_are_kept_whole() {
        assert_eq!(
            shorten_abstract("Short. Text."),
            ("Short. Text.".to_owned(), false)
        );
    }

    #[test]
    fn an_abstract_without_sentence_ends_is_cut_at_a_word() {
        let text = "word ".repeat(200);
        let (short, cut) = shorten_abstract(&text);
        assert!(cut);
        assert!(short.ends_with("word…"), "{short}");
    }

    #[test]
    fn mathematical_letters_are_folded_to_plain_ones() {
        assert_eq!(clean("𝐈𝐧&𝐎𝐮𝐭 𝑖𝑡 𝟐𝟎𝟐𝟏 𝚣"), "In&Out it 2021 z");
        assert_eq!(clean("Ωmega ℎ 🚀 é"), "Ωmega ℎ 🚀 é");
    }

    #[test]
    fn shortening_never_splits_a_character() {
        let text = "é".repeat(100);
        assert_eq!(shorten_at_word(&text, 10).chars().count(), 10);
    }
}
