//! TeX in abstracts and titles (arXiv's are TeX: `Pok\'emon`, `$\sqrt{T}$`,
//! `\emph{…}`, `\url{…}`), as readers should see it: [`Rich::parse`] reads
//! it once into styled spans, [`Rich::html`] gives HTML (MathML for pages and
//! feeds, Unicode math for mail) and [`Rich::text`] plain Unicode text (the
//! text part, subjects, feed titles, the search index).
//!
//! A leaf module: it knows nothing of digests, feeds or mail, and does no I/O.
//!
//! * **Text commands become text.** Accents become the accented letter
//!   (`\'e`, `\"{o}`, `\v s` → é ö š, composed to NFC), `\emph`, `\textit`,
//!   `\textbf`, `\texttt` (and `{\bf …}`, `{\it …}`) become `<em>`,
//!   `<strong>`, `<code>` in HTML and plain words in text; `\url{…}`,
//!   `\href{…}{…}` and bare `http(s)` URLs ([`crate::links`]) become links
//!   (only http(s); `\url{github.com/x}` without a scheme is `https://`);
//!   `~` is a no-break space, `--` and `---` en and em dashes, ``` `` ```
//!   and `''` curly quotes; `\%`, `\&`, `\$`, `\_`, `\#` their character.
//! * **Math** (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`) is converted whole or not
//!   at all: a formula either converter cannot handle stays as its TeX
//!   source, never half-converted or dropped. `%` in a formula is a percent
//!   sign (abstracts are not run through TeX, nobody writes comments there),
//!   and `$…$` inside `\text{…}` / `\textbf{…}` within math is read as TeX
//!   does (`$\textbf{up to 0.14$\sim$0.45dB}$`).
//! * **Anything else stays as written**: an unknown command keeps its
//!   backslash and its `{…}` arguments verbatim, so `\input{x}`,
//!   `\write18{rm}` or `\def\x{…}` are inert text; an unbalanced brace is a
//!   literal brace.
//! * **Bounded**: one pass, no recursion in the text scanner; a formula
//!   longer than [`MAX_FORMULA`] bytes or nesting groups deeper than 32 stays
//!   source; 10,000 nested groups are read on a small stack.

mod math;
mod symbols;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Longest formula (in bytes, delimiters excluded) converted; longer ones
/// are shown as their source.
pub const MAX_FORMULA: usize = 2_000;

/// How a formula is written in HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOutput {
    /// A `<math>` element (MathML Core, which browsers render): pages, feeds.
    MathMl,
    /// Unicode text (`x²`, `√n`): mail, whose clients do not render MathML.
    Unicode,
}

/// What [`Rich::html`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtmlOptions {
    /// How formulas are written.
    pub math: MathOutput,
    /// Whether URLs become `<a>` (not inside another link, as a linked title).
    pub links: bool,
}

/// TeX text read into styled spans: parse once, write as HTML or text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rich {
    spans: Vec<Span>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Style {
    em: bool,
    strong: bool,
    code: bool,
    /// The link target (an http(s) URL).
    link: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Span {
    Text(String, Style),
    /// Shown in plain text only: the URL after an `\href`'s text.
    TextOnly(String),
    Math(Formula, Style),
}

#[derive(Debug, Clone, PartialEq)]
struct Formula {
    /// As written, delimiters included: what is shown when it cannot be converted.
    source: String,
    /// What the converters read (see [`scan_math`]).
    tex: String,
    display: bool,
    /// The Unicode form, when there is one.
    unicode: Option<String>,
}

impl Formula {
    fn text(&self) -> &str {
        self.unicode.as_deref().unwrap_or(&self.source)
    }
}

impl Rich {
    /// Reads `source` (TeX text: an abstract, a title).
    #[must_use]
    pub fn parse(source: &str) -> Self {
        Scanner::new(source).run()
    }

    /// Plain Unicode text: formulas as Unicode (or their source), links as
    /// their URL, `\href{url}{text}` as `text (url)`.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        for span in &self.spans {
            match span {
                Span::Text(t, _) | Span::TextOnly(t) => out.push_str(t),
                Span::Math(f, _) => out.push_str(f.text()),
            }
        }
        out
    }

    /// HTML: text escaped ([`crate::html::escape`]), `<em>`, `<strong>`,
    /// `<code>`, `<a href="http(s)…" rel="nofollow noopener noreferrer">`,
    /// and formulas as `options.math` says. No markup from the source ever
    /// passes through.
    #[must_use]
    pub fn html(&self, options: HtmlOptions) -> String {
        let mut out = String::new();
        // The link open in `out`: consecutive spans of one `\href` are one `<a>`.
        let mut open_link: Option<&str> = None;
        for span in &self.spans {
            let (inner, style) = match span {
                Span::Text(t, style) => (crate::html::escape(t).into_owned(), style),
                Span::TextOnly(_) => continue,
                Span::Math(f, style) => {
                    let html = match options.math {
                        MathOutput::MathMl => math::mathml(&f.tex, f.display),
                        MathOutput::Unicode => None,
                    };
                    (
                        html.unwrap_or_else(|| crate::html::escape(f.text()).into_owned()),
                        style,
                    )
                }
            };
            let link = style.link.as_deref().filter(|_| options.links);
            if open_link.is_some() && open_link != link {
                out.push_str("</a>");
                open_link = None;
            }
            if let Some(url) = link.filter(|_| open_link.is_none()) {
                let _ = write!(
                    out,
                    "<a href=\"{}\" rel=\"nofollow noopener noreferrer\">",
                    crate::html::escape(url)
                );
                open_link = Some(url);
            }
            let tags = [
                (style.strong, "strong"),
                (style.em, "em"),
                (style.code, "code"),
            ];
            for (on, tag) in tags {
                if on {
                    let _ = write!(out, "<{tag}>");
                }
            }
            out.push_str(&inner);
            for (on, tag) in tags.iter().rev() {
                if *on {
                    let _ = write!(out, "</{tag}>");
                }
            }
        }
        if open_link.is_some() {
            out.push_str("</a>");
        }
        out
    }

    /// The first `chars` characters of [`Rich::text`], as spans (a formula
    /// cut in the middle becomes its text up to there).
    #[must_use]
    pub fn truncated(&self, chars: usize) -> Self {
        let mut left = chars;
        let mut spans = Vec::new();
        for span in &self.spans {
            if left == 0 {
                break;
            }
            let (text, style) = match span {
                Span::Text(t, s) => (t.as_str(), Some(s)),
                Span::TextOnly(t) => (t.as_str(), None),
                Span::Math(f, s) => (f.text(), Some(s)),
            };
            let n = text.chars().count();
            if n <= left {
                spans.push(span.clone());
                left -= n;
            } else {
                let cut: String = text.chars().take(left).collect();
                spans.push(match style {
                    Some(s) => Span::Text(cut, s.clone()),
                    None => Span::TextOnly(cut),
                });
                left = 0;
            }
        }
        Self { spans }
    }

    fn push_text(&mut self, text: &str, style: &Style) {
        if text.is_empty() {
            return;
        }
        if let Some(Span::Text(t, s)) = self.spans.last_mut() {
            if s == style {
                t.push_str(text);
                return;
            }
        }
        self.spans.push(Span::Text(text.to_owned(), style.clone()));
    }

    fn last_char(&self) -> Option<char> {
        self.spans.iter().rev().find_map(|s| match s {
            Span::Text(t, _) | Span::TextOnly(t) => t.chars().next_back(),
            Span::Math(f, _) => f.text().chars().next_back(),
        })
    }
}

/// [`Rich::text`] of `source`: TeX as plain Unicode text.
#[must_use]
pub fn to_text(source: &str) -> String {
    Rich::parse(source).text()
}

/// [`Rich::html`] of `source` with MathML and links: for pages and feeds.
#[must_use]
pub fn to_html(source: &str) -> String {
    Rich::parse(source).html(HtmlOptions {
        math: MathOutput::MathMl,
        links: true,
    })
}

/// `text` in Unicode normalization form C (`e` + U+0301 → `é`).
fn nfc(text: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
        .normalize(text)
        .into_owned()
}

/// What closing a `{…}` group does besides restoring the style.
#[derive(Debug, Clone)]
enum Close {
    Plain,
    /// `\footnote{…}`: a closing parenthesis.
    Parenthesis,
    /// `\href{url}{…}`: in text, ` (url)` after the link's text.
    Href(String),
}

struct Scanner<'a> {
    src: &'a str,
    pos: usize,
    out: Rich,
    style: Style,
    /// Open groups: the style to restore and what closing does.
    stack: Vec<(Style, Close)>,
    /// Byte offset of each matched `{` → its `}`, and the matched `}`.
    pairs: HashMap<usize, usize>,
    closes: HashSet<usize>,
    /// Bare URLs, in order; `next_link` indexes the first not yet passed.
    links: Vec<crate::links::Found>,
    next_link: usize,
    /// An open ``` `` ``` (so `''` closes it) and an open `` ` ``.
    open_double: bool,
    open_single: bool,
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Self {
        let pairs = match_braces(src);
        let closes = pairs.values().copied().collect();
        Self {
            src,
            pos: 0,
            out: Rich::default(),
            style: Style::default(),
            stack: Vec::new(),
            pairs,
            closes,
            links: crate::links::find(src),
            next_link: 0,
            open_double: false,
            open_single: false,
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn text(&mut self, text: &str) {
        self.out.push_text(text, &self.style);
    }

    fn run(mut self) -> Rich {
        while self.pos < self.src.len() {
            while self
                .links
                .get(self.next_link)
                .is_some_and(|l| l.range.start < self.pos)
            {
                self.next_link += 1;
            }
            if let Some(link) = self
                .links
                .get(self.next_link)
                .filter(|l| l.range.start == self.pos)
                .cloned()
            {
                let style = Style {
                    link: Some(link.url.clone()),
                    ..self.style.clone()
                };
                self.out.push_text(&link.url, &style);
                self.pos = link.range.end;
                continue;
            }
            let rest = self.rest();
            let c = rest.chars().next().unwrap_or_default();
            match c {
                '\\' => self.command(),
                '{' => {
                    self.pos += 1;
                    if self.pairs.contains_key(&(self.pos - 1)) {
                        self.stack.push((self.style.clone(), Close::Plain));
                    } else {
                        self.text("{");
                    }
                }
                '}' => {
                    self.pos += 1;
                    self.close_group();
                }
                '$' => {
                    let display = rest.starts_with("$$");
                    let open = if display { 2 } else { 1 };
                    let close = if display { "$$" } else { "$" };
                    self.math(open, close, display, "$");
                }
                '~' => {
                    self.pos += 1;
                    self.text("\u{a0}");
                }
                '-' => {
                    let n = rest.len() - rest.trim_start_matches('-').len();
                    self.pos += n;
                    match n {
                        2 => self.text("–"),
                        3 => self.text("—"),
                        _ => self.text(&rest[..n]),
                    }
                }
                '`' => {
                    if rest.starts_with("``") {
                        self.pos += 2;
                        self.open_double = true;
                        self.text("“");
                    } else {
                        self.pos += 1;
                        self.open_single = true;
                        self.text("‘");
                    }
                }
                '\'' => {
                    if rest.starts_with("''") && self.open_double {
                        self.pos += 2;
                        self.open_double = false;
                        self.text("”");
                    } else {
                        self.pos += 1;
                        let quote = if self.open_single { "’" } else { "'" };
                        self.open_single = false;
                        self.text(quote);
                    }
                }
                _ => {
                    // A run of plain characters, up to the next special one
                    // or the next URL.
                    let mut end = rest
                        .find(['\\', '{', '}', '$', '~', '-', '`', '\''])
                        .unwrap_or(rest.len())
                        .max(c.len_utf8());
                    if let Some(l) = self.links.get(self.next_link) {
                        end = end.min(l.range.start - self.pos).max(c.len_utf8());
                    }
                    self.pos += end;
                    self.text(&rest[..end]);
                }
            }
        }
        self.out
    }

    /// A `}`: closes the innermost group, or is a literal brace.
    fn close_group(&mut self) {
        let matched = self.closes.contains(&(self.pos - 1));
        let Some((style, close)) = matched.then(|| self.stack.pop()).flatten() else {
            self.text("}");
            return;
        };
        self.style = style;
        match close {
            Close::Plain => {}
            Close::Parenthesis => self.text(")"),
            Close::Href(url) => {
                if !self.out.text().ends_with(url.as_str()) {
                    self.out.spans.push(Span::TextOnly(format!(" ({url})")));
                }
            }
        }
    }

    /// After `\`: a command, an accent or an escaped character.
    fn command(&mut self) {
        let start = self.pos;
        let rest = &self.rest()[1..];
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if name_len == 0 {
            let Some(c) = rest.chars().next() else {
                self.pos += 1;
                self.text("\\");
                return;
            };
            self.pos += 1 + c.len_utf8();
            match c {
                '%' | '&' | '$' | '#' | '_' | '{' | '}' => self.text(&c.to_string()),
                ' ' | '\\' | ';' | ':' => self.text(" "),
                ',' => self.text("\u{2009}"),
                '-' | '@' | '/' | '!' => {}
                '(' => self.math(0, "\\)", false, "\\("),
                '[' => self.math(0, "\\]", true, "\\["),
                c if symbols::accent(&c.to_string()).is_some() => {
                    self.accent(&c.to_string(), start);
                }
                c => {
                    let raw = format!("\\{c}");
                    self.text(&raw);
                }
            }
            return;
        }
        let name = &rest[..name_len];
        self.pos += 1 + name_len;
        let style = self.style.clone();
        match name {
            "emph" | "textit" | "textsl" | "mathit" => {
                self.group_argument(start, Style { em: true, ..style }, Close::Plain);
            }
            "textbf" | "mathbf" | "boldsymbol" => {
                self.group_argument(
                    start,
                    Style {
                        strong: true,
                        ..style
                    },
                    Close::Plain,
                );
            }
            "texttt" | "mathtt" | "code" => {
                self.group_argument(
                    start,
                    Style {
                        code: true,
                        ..style
                    },
                    Close::Plain,
                );
            }
            "text" | "textrm" | "textsf" | "textup" | "textnormal" | "textsc" | "textmd"
            | "mbox" | "underline" | "mathrm" | "mathsf" => {
                self.group_argument(start, style, Close::Plain);
            }
            "footnote" => {
                if self.rest().trim_start().starts_with('{') {
                    if !self.out.last_char().is_none_or(char::is_whitespace) {
                        self.text(" ");
                    }
                    self.text("(");
                }
                self.group_argument(start, style, Close::Parenthesis);
            }
            // Declarations: TeX eats the spaces after them.
            "bf" | "bfseries" => {
                self.style.strong = true;
                self.skip_spaces();
            }
            "it" | "itshape" | "em" | "sl" | "slshape" => {
                self.style.em = true;
                self.skip_spaces();
            }
            "tt" | "ttfamily" => {
                self.style.code = true;
                self.skip_spaces();
            }
            "rm" | "normalfont" | "upshape" | "mdseries" | "sffamily" | "sf" | "sc" | "scshape" => {
                self.style = Style {
                    link: self.style.link.clone(),
                    ..Style::default()
                };
                self.skip_spaces();
            }
            "url" => match self.raw_argument() {
                Some(arg) => {
                    let arg = unescape_url(&arg);
                    let link = web_link(&arg).filter(|_| self.style.link.is_none());
                    let style = Style {
                        link,
                        ..self.style.clone()
                    };
                    self.out.push_text(&arg, &style);
                }
                None => self.unknown(start),
            },
            "href" => match self.raw_argument() {
                Some(url) => {
                    let url = unescape_url(&url);
                    let link = web_link(&url).filter(|_| self.style.link.is_none());
                    let close = link.clone().map_or(Close::Plain, Close::Href);
                    let style = Style {
                        link: link.or(style.link.clone()),
                        ..style
                    };
                    self.group_argument(start, style, close);
                }
                None => self.unknown(start),
            },
            "cite" | "citep" | "citet" | "citealp" => {
                self.skip_optional();
                match self.raw_argument() {
                    Some(keys) => self.text(&format!("[{keys}]")),
                    None => self.unknown(start),
                }
            }
            "SI" | "si" | "num" => self.siunitx(name, start),
            _ => {
                if symbols::accent(name).is_some() && name.len() == 1 {
                    self.accent(name, start);
                } else if let Some(s) = symbols::text_symbol(name)
                    .or(symbols::math_symbol(name))
                    .or(symbols::operator_name(name))
                {
                    self.text(s);
                } else {
                    self.unknown(start);
                }
            }
        }
    }

    fn skip_spaces(&mut self) {
        self.pos += self.rest().len() - self.rest().trim_start().len();
    }

    /// `\name{` with a matched brace: opens a group with `style`; else the
    /// command stays as written.
    fn group_argument(&mut self, start: usize, style: Style, close: Close) {
        let spaces = self.rest().len() - self.rest().trim_start().len();
        let open = self.pos + spaces;
        if self.src[open..].starts_with('{') && self.pairs.contains_key(&open) {
            self.pos = open + 1;
            let before = std::mem::replace(&mut self.style, style);
            self.stack.push((before, close));
        } else {
            self.unknown(start);
        }
    }

    /// The text of a `{…}` argument as written, or `None` (nothing consumed)
    /// when there is none.
    fn raw_argument(&mut self) -> Option<String> {
        let spaces = self.rest().len() - self.rest().trim_start().len();
        let open = self.pos + spaces;
        let close = *self.pairs.get(&open)?;
        self.pos = close + 1;
        Some(self.src[open + 1..close].to_owned())
    }

    /// Skips a `[…]` option (of `\cite`, `\SI`), if there is one.
    fn skip_optional(&mut self) -> Option<String> {
        let rest = self.rest();
        if !rest.starts_with('[') {
            return None;
        }
        let end = rest.find(']').filter(|&e| e < 200)?;
        self.pos += end + 1;
        Some(rest[1..end].to_owned())
    }

    /// An unknown command from `start`: the command, then any digits and
    /// `{…}` / `[…]` arguments right after it, all as written.
    fn unknown(&mut self, start: usize) {
        loop {
            let rest = self.rest();
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                self.pos += rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
            } else if rest.starts_with('{') && self.pairs.contains_key(&self.pos) {
                self.pos = self.pairs[&self.pos] + 1;
            } else if rest.starts_with('[') && self.skip_optional().is_some() {
            } else {
                break;
            }
        }
        let raw = &self.src[start..self.pos];
        self.text(raw);
    }

    /// An accent command: its combining mark on the next letter (`\'e`,
    /// `\'{e}`, `\c c`, `\"{\i}`); alone (`\^{}`) the accent character.
    fn accent(&mut self, name: &str, start: usize) {
        let mark = symbols::accent(name).unwrap_or('\u{301}');
        let letter_named = name.chars().all(|c| c.is_ascii_alphabetic());
        if letter_named {
            let spaces = self.rest().len() - self.rest().trim_start().len();
            self.pos += spaces;
        }
        let rest = self.rest();
        let base = if rest.starts_with('{') && self.pairs.contains_key(&self.pos) {
            let close = self.pairs[&self.pos];
            let inner = &self.src[self.pos + 1..close];
            let base = match inner {
                "" => Some(String::new()),
                "\\i" => Some("ı".to_owned()),
                "\\j" => Some("ȷ".to_owned()),
                s if s.chars().count() == 1 => Some(s.to_owned()),
                _ => None,
            };
            if base.is_some() {
                self.pos = close + 1;
            }
            base
        } else if let Some(stripped) = rest
            .strip_prefix("\\i")
            .filter(|r| !r.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            self.pos = self.src.len() - stripped.len();
            Some("ı".to_owned())
        } else {
            rest.chars().next().filter(|c| c.is_alphabetic()).map(|c| {
                self.pos += c.len_utf8();
                c.to_string()
            })
        };
        match base {
            Some(b) if b.is_empty() => {
                let alone = if name.len() == 1 { name } else { "" };
                self.text(alone);
            }
            Some(b) => {
                let b = if b == "ı" && mark != '\u{327}' {
                    "i".to_owned()
                } else {
                    b
                };
                self.text(&nfc(&format!("{b}{mark}")));
            }
            None => {
                self.pos = start + 1 + name.len();
                self.unknown(start);
            }
        }
    }

    /// siunitx: `\SI[opts]{number}[pre-unit]{unit}`, `\si{unit}`, `\num{n}`
    /// as `pre-unit number unit`.
    fn siunitx(&mut self, name: &str, start: usize) {
        self.skip_optional();
        let Some(first) = self.raw_argument() else {
            return self.unknown(start);
        };
        if name != "SI" {
            return self.text(&plain_argument(&first));
        }
        let pre = self
            .skip_optional()
            .map(|p| plain_argument(&p))
            .unwrap_or_default();
        let Some(unit) = self.raw_argument() else {
            self.pos = start + 1 + name.len();
            return self.unknown(start);
        };
        let unit = plain_argument(&unit);
        let number = plain_argument(&first);
        let mut s = format!("{pre}{number}");
        if !unit.trim().is_empty() {
            s.push('\u{a0}');
            s.push_str(unit.trim());
        }
        self.text(&s);
    }

    /// A formula whose opening delimiter (`open` bytes, after the `\` of
    /// `\(`) is at the current position; literal text if it does not close.
    fn math(&mut self, open: usize, close: &str, display: bool, opener: &str) {
        let start = if opener.starts_with('\\') {
            self.pos - 2
        } else {
            self.pos
        };
        let body = self.pos + open;
        match scan_math(&self.src[body..], close) {
            Some((len, tex)) => {
                let end = body + len + close.len();
                let unicode = math::unicode(&tex);
                let formula = Formula {
                    source: self.src[start..end].to_owned(),
                    tex,
                    display,
                    unicode,
                };
                self.out.spans.push(Span::Math(formula, self.style.clone()));
                self.pos = end;
            }
            None => {
                self.pos = body;
                let written = &self.src[start..body];
                self.text(written);
            }
        }
    }
}

/// An argument read as plain text without parsing it again (no recursion):
/// escaped characters unescaped, braces dropped, the rest as written.
fn plain_argument(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| "%_#&$,{} ".contains(*n)) => {
                let n = chars.next().unwrap_or(' ');
                out.push(if n == ',' { '\u{2009}' } else { n });
            }
            '{' | '}' => {}
            '~' => out.push('\u{a0}'),
            c => out.push(c),
        }
    }
    out
}

/// `arg` of `\url` / `\href` with `\%`, `\_`, `\#`, `\&`, `\~` unescaped.
fn unescape_url(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| "%_#&~$".contains(*n)) {
            continue;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// The link of `\url{arg}`: an http(s) URL as it is; `host.tld/…` without a
/// scheme as `https://`; anything else (`javascript:`, a relative path) none.
fn web_link(arg: &str) -> Option<String> {
    if crate::links::is_web_url(arg) {
        return Some(arg.to_owned());
    }
    if arg.contains(':') || arg.contains(char::is_whitespace) {
        return None;
    }
    let host = arg.split('/').next()?;
    let looks_like_host = host.contains('.')
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && host
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()));
    let url = format!("https://{arg}");
    (looks_like_host && crate::links::is_web_url(&url)).then_some(url)
}

/// Each `{` that has a matching `}` (byte offsets), `\{` and `\}` aside.
/// Iterative, so 10,000 nested groups cost a 10,000-entry vector.
fn match_braces(src: &str) -> HashMap<usize, usize> {
    let mut pairs = HashMap::new();
    let mut open = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => open.push(i),
            b'}' => {
                if let Some(o) = open.pop() {
                    pairs.insert(o, i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    pairs
}

/// Finds where a formula ends: the first `close` outside every group, not
/// in a `\text{…}` (where `$…$` is nested math, as TeX reads it). Returns
/// its length and the TeX for the converters: `%` as `\%`, and nested math
/// taken out of its text command (`\textbf{a$\sim$b}` →
/// `\textbf{a}\sim\textbf{b}`). `None` when it does not close within
/// [`MAX_FORMULA`] bytes, a group closes that did not open in it, or groups
/// nest deeper than 32.
fn scan_math(body: &str, close: &str) -> Option<(usize, String)> {
    /// An open group; `text` names its text command (`textbf`), `nested`
    /// says a `$` inside it opened nested math.
    struct Group<'a> {
        text: Option<&'a str>,
        nested: bool,
    }
    let mut tex = String::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut pending_text: Option<&str> = None;
    let mut i = 0;
    while i < body.len() {
        if i > MAX_FORMULA {
            return None;
        }
        let rest = &body[i..];
        if groups.is_empty() && rest.starts_with(close) {
            return (!tex.trim().is_empty()).then_some((i, tex));
        }
        let c = rest.chars().next()?;
        match c {
            '\\' => {
                let after = &rest[1..];
                let n = after
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(after.len());
                if n > 0 {
                    let name = &after[..n];
                    if matches!(
                        name,
                        "text"
                            | "textbf"
                            | "textit"
                            | "textrm"
                            | "texttt"
                            | "textsf"
                            | "mbox"
                            | "emph"
                    ) {
                        pending_text = Some(name);
                    }
                    tex.push_str(&rest[..=n]);
                    i += 1 + n;
                } else {
                    let next = after.chars().next()?;
                    tex.push('\\');
                    tex.push(next);
                    i += 1 + next.len_utf8();
                }
                continue;
            }
            '{' => {
                if groups.len() >= math::MAX_DEPTH {
                    return None;
                }
                groups.push(Group {
                    text: pending_text.take(),
                    nested: false,
                });
                tex.push('{');
            }
            '}' => {
                groups.pop()?;
                tex.push('}');
            }
            '$' => {
                let group = groups.last_mut()?;
                let name = group.text?;
                if group.nested {
                    let _ = write!(tex, "\\{name}{{");
                } else {
                    tex.push('}');
                }
                group.nested = !group.nested;
            }
            '%' => tex.push_str("\\%"),
            c if c.is_whitespace() => tex.push(' '),
            c => tex.push(c),
        }
        if !c.is_whitespace() && c != '{' {
            pending_text = None;
        }
        i += c.len_utf8();
    }
    None
}
