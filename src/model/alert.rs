//! Author and keyword alerts: whether a paper is one a reader asked to be
//! told about whatever its category. Names compare with accents and case
//! folded (`Veličković` is `velickovic`); keywords match whole words of the
//! title or abstract, case-insensitively, with TeX left as it is written.

use icu_normalizer::properties::CanonicalCombiningClassMapBorrowed;
use icu_normalizer::DecomposingNormalizerBorrowed;

use super::Paper;

/// `s` without accents, in lower case, with whitespace runs as one space:
/// compatibility decomposition (NFKD), combining marks dropped.
#[must_use]
pub fn fold(s: &str) -> String {
    let decomposed = DecomposingNormalizerBorrowed::new_nfkd().normalize(s);
    let marks = CanonicalCombiningClassMapBorrowed::new();
    let folded: String = decomposed
        .chars()
        .filter(|&c| marks.get_u8(c) == 0)
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of `s`, folded: runs of letters and digits.
fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What of `authors` and `keywords` a paper matches, as the email says it:
/// `author Petar Veličković` (the paper's spelling), `keyword "graph"` (the
/// reader's). Empty when nothing matches.
#[must_use]
pub(super) fn matches(paper: &Paper, authors: &[String], keywords: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    if !authors.is_empty() {
        let wanted: Vec<String> = authors.iter().map(|a| fold(a)).collect();
        for name in &paper.authors {
            if wanted.contains(&fold(name)) {
                found.push(format!("author {}", name.trim()));
            }
        }
    }
    if !keywords.is_empty() {
        let text = [words(&paper.title), words(&paper.abstract_text)];
        for keyword in keywords {
            let k = words(keyword);
            if k.is_empty() {
                continue;
            }
            if text
                .iter()
                .any(|t| t.windows(k.len()).any(|w| w == k.as_slice()))
            {
                found.push(format!("keyword \u{201c}{}\u{201d}", keyword.trim()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str, authors: &[&str], abstract_text: &str) -> Paper {
        serde_json::from_value(serde_json::json!({
            "rank": 1, "title": title, "authors": authors, "retweets": 1,
            "favorites": 0, "counted_at": "2021-02-12T10:00:00", "arxiv_id": "2102.00001",
            "abs_url": "https://arxiv.org/abs/2102.00001", "pdf_url": null,
            "categories": [], "abstract": abstract_text, "tweets": []
        }))
        .unwrap()
    }

    #[test]
    fn names_compare_with_accents_and_case_folded() {
        let p = paper("T", &["Petar Veličković", "Ann Other"], "");
        assert_eq!(
            matches(&p, &["petar  VELICKOVIC".into()], &[]),
            ["author Petar Veličković"]
        );
        assert!(
            matches(&p, &["Petar".into()], &[]).is_empty(),
            "whole names only"
        );
    }

    #[test]
    fn keywords_match_whole_words_and_phrases_case_insensitively() {
        let p = paper(
            "Graph Neural Networks for $\\mathcal{O}(n)$ Transformers",
            &[],
            "We study GPT-3 and diffusion.",
        );
        let hit = |k: &str| !matches(&p, &[], &[k.to_owned()]).is_empty();
        assert!(hit("graph neural networks"));
        assert!(hit("TRANSFORMERS"));
        assert!(hit("gpt-3"), "from the abstract");
        assert!(!hit("transformer"), "whole words: not a prefix");
        assert!(!hit("neural graph"), "a phrase keeps its order");
        assert!(hit("mathcal"), "TeX is left as it is written");
        assert_eq!(
            matches(&p, &[], &["Diffusion".into()]),
            ["keyword \u{201c}Diffusion\u{201d}"]
        );
    }
}
