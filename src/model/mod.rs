//! The typed model in the middle of the pipeline: a parsed [`Digest`] with its
//! [`Paper`]s and [`Tweet`]s. Pure data, no I/O: the `digest` stage fills it,
//! the `feed`, `email` and `site` stages read it.

mod address;
mod alert;
mod arxiv;
mod consent;
mod subscriber;
mod week;

pub use address::{AddressError, EmailAddress};
pub use alert::fold;
pub use arxiv::{ArxivId, Category};
pub use consent::{
    clean_form_version, clean_user_agent, truncate_address, Channel, Consent, ConsentEvent,
    EventKind, SignUp, MAX_USER_AGENT, SUBSCRIBE_FORM_VERSION,
};
pub use subscriber::{Cadence, PaperFilter, Selection, Subscriber, SubscriberStatus, Weekday};
pub use week::{weekly_digest, Week};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::html::SafeHtml;

/// One day's "Hot Papers" digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Title from the front matter, whitespace collapsed ("Hot Papers 2021-02-12").
    pub title: String,
    /// The digest day: the day the papers trended (from the title, else the file name,
    /// else the front matter `date`).
    #[serde(with = "day_format")]
    pub date: NaiveDate,
    /// Last day covered when the title names a range ("Hot Papers 2021-02-12 - 2021-02-14").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_day_format"
    )]
    pub end_date: Option<NaiveDate>,
    /// When the digest was published (front matter `date`), kept with its offset.
    pub published: DateTime<FixedOffset>,
    /// URL slug from the front matter ("hot-papers-2021-02-12").
    pub slug: String,
    /// Drafts are parsed but left out of the archive.
    pub draft: bool,
    /// Front matter `template` (the original site's page template), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Front matter `category`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Front matter `tags`, in file order.
    pub tags: Vec<String>,
    /// Front matter `description`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Front matter `socialImage` (a site-relative path or URL), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social_image: Option<String>,
    /// Papers in rank order (rank 1 first). May be empty.
    pub papers: Vec<Paper>,
}

/// One trending paper within a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paper {
    /// Position in the day's ranking, from 1.
    pub rank: u32,
    /// Title with whitespace runs collapsed; TeX and `&` kept as plain text (not HTML).
    pub title: String,
    /// Author names in paper order.
    pub authors: Vec<String>,
    /// Retweet count when counted.
    pub retweets: u64,
    /// Favorite (like) count when counted.
    pub favorites: u64,
    /// When the counts were taken (no zone is given in the digest; treat as UTC).
    #[serde(with = "counted_format")]
    pub counted_at: NaiveDateTime,
    /// arXiv identifier taken from the abs URL ("2102.06171", "hep-th/9901001").
    pub arxiv_id: ArxivId,
    /// The abs page URL as written in the digest.
    pub abs_url: String,
    /// The PDF URL, when the digest links one.
    pub pdf_url: Option<String>,
    /// arXiv categories in digest order (primary first).
    pub categories: Vec<Category>,
    /// Abstract as plain text; empty when the digest has none.
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// Tweets quoted for this paper, in digest order.
    pub tweets: Vec<Tweet>,
}

/// A tweet about a paper, taken from its Twitter embed markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tweet {
    /// Display name of the tweet's author.
    pub author: String,
    /// Handle without the `@`.
    pub handle: String,
    /// Status URL without its query string.
    pub url: String,
    /// Day the tweet was posted, if the embed says so.
    #[serde(with = "opt_day_format")]
    pub date: Option<NaiveDate>,
    /// Language tag from the embed (`en`, `ja`, `und`...); empty if absent.
    pub lang: String,
    /// Tweet text as plain text: `<br>` as newlines, entities decoded.
    pub text: String,
    /// Tweet text as sanitized HTML: links kept, no scripts or event
    /// attributes (the type says it went through the sanitizer).
    pub html: SafeHtml,
}

impl Digest {
    /// The best-ranked paper, if the digest has any.
    #[must_use]
    pub fn top_paper(&self) -> Option<&Paper> {
        self.papers.iter().min_by_key(|p| p.rank)
    }
}

impl Paper {
    /// The tweet with the most engagement to quote (the first one; embeds carry
    /// no per-tweet counts, and the digest lists the most shared tweet first).
    #[must_use]
    pub fn lead_tweet(&self) -> Option<&Tweet> {
        self.tweets.first()
    }

    /// Canonical abs page URL (`https://arxiv.org/abs/ID`), stable across digests
    /// whatever form the digest wrote it in.
    #[must_use]
    pub fn canonical_url(&self) -> String {
        self.arxiv_id.abs_url()
    }
}

/// `YYYY-MM-DD` (de)serialization for days.
pub mod day_format {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `YYYY-MM-DD`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%d"))
    }

    /// Reads `YYYY-MM-DD`.
    ///
    /// # Errors
    /// Not a `YYYY-MM-DD` day.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(serde::de::Error::custom)
    }
}

/// Optional `YYYY-MM-DD` (de)serialization.
pub mod opt_day_format {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `YYYY-MM-DD` or null.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&d.format("%Y-%m-%d")),
            None => s.serialize_none(),
        }
    }

    /// Reads `YYYY-MM-DD` or null.
    ///
    /// # Errors
    /// Neither null nor a `YYYY-MM-DD` day.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (de)serialization for the count timestamp.
mod counted_format {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%dT%H:%M:%S"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S").map_err(serde::de::Error::custom)
    }
}
