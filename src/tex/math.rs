//! One formula (the TeX between `$…$`): as readable Unicode (our own
//! converter, for mail and plain text) and as MathML (the `math-core`
//! crate, for pages and feeds). Either gives `None` for what it cannot
//! handle whole; the caller then shows the TeX source.

use std::sync::OnceLock;

use super::symbols;

/// Deepest `{…}` nesting a formula may have to be converted at all (the
/// scanner refuses deeper ones): both converters recurse per group.
pub(super) const MAX_DEPTH: usize = 32;

/// The formula as Unicode text (`\mathcal{O}(n \log n)` → `𝒪(n log n)`), or
/// `None` if any part of it has no Unicode form here.
pub(super) fn unicode(tex: &str) -> Option<String> {
    let tokens = tokenize(tex);
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        depth: 0,
    };
    let out = p.sequence(false)?;
    (p.pos == tokens.len()).then_some(())?;
    let out = crate::tex::nfc(&out);
    let out = out.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>();
    Some(out.join(" "))
}

/// The formula as a `<math>` element, or `None` if `math-core` refuses it or
/// its output holds anything but MathML elements and plain attributes.
pub(super) fn mathml(tex: &str, display: bool) -> Option<String> {
    static CONVERTER: OnceLock<Option<math_core::LatexToMathML>> = OnceLock::new();
    let converter = CONVERTER
        .get_or_init(|| {
            math_core::LatexToMathML::new(math_core::MathCoreConfig::default())
                .inspect_err(|e| {
                    tracing::error!("math-core did not start ({e:?}): formulas stay as TeX");
                })
                .ok()
        })
        .as_ref()?;
    let display = if display {
        math_core::MathDisplay::Block
    } else {
        math_core::MathDisplay::Inline
    };
    let result = converter.convert_with_local_state(tex, display).ok()?;
    is_plain_mathml(&result.mathml).then_some(result.mathml)
}

/// Whether `markup` is only MathML Core elements (and `<code>`, `<b>`, `<i>`,
/// which `math-core` puts in `\texttt`, `\textbf`, `\textit`), with presentation attributes whose values
/// hold no markup, quotes, parentheses or backslashes: the guarantee that a
/// formula can never carry a script, a link or a style with a URL into a
/// page, whatever the converter does.
pub(super) fn is_plain_mathml(markup: &str) -> bool {
    const ELEMENTS: &[&str] = &[
        "math",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "mrow",
        "mfrac",
        "msqrt",
        "mroot",
        "msub",
        "msup",
        "msubsup",
        "munder",
        "mover",
        "munderover",
        "mmultiscripts",
        "mprescripts",
        "none",
        "mtable",
        "mtr",
        "mtd",
        "mstyle",
        "mpadded",
        "mphantom",
        "merror",
        "menclose",
        "semantics",
        "annotation",
        "code",
        "b",
        "i",
    ];
    const ATTRIBUTES: &[&str] = &[
        "display",
        "mathvariant",
        "stretchy",
        "lspace",
        "rspace",
        "accent",
        "accentunder",
        "width",
        "height",
        "depth",
        "voffset",
        "linethickness",
        "form",
        "fence",
        "separator",
        "symmetric",
        "largeop",
        "movablelimits",
        "minsize",
        "maxsize",
        "scriptlevel",
        "displaystyle",
        "columnalign",
        "rowalign",
        "columnspan",
        "rowspan",
        "notation",
        "columnspacing",
        "rowspacing",
        "class",
        "style",
        "encoding",
    ];
    let mut rest = markup;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            return false;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let tag = tag.strip_suffix('/').unwrap_or(tag);
        let mut parts = tag.split_whitespace();
        if !parts.next().is_some_and(|name| ELEMENTS.contains(&name)) {
            return false;
        }
        for attribute in parts {
            let Some((name, value)) = attribute.split_once('=') else {
                return false;
            };
            let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
                return false;
            };
            let plain = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " .:;%#-/_".contains(c));
            if !ATTRIBUTES.contains(&name) || !plain {
                return false;
            }
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `\name`
    Command(String),
    /// `\` and one other character (`\{`, `\,`)
    Symbol(char),
    Char(char),
    Open,
    Close,
    Sup,
    Sub,
}

fn tokenize(tex: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = tex.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => match chars.next() {
                Some(l) if l.is_ascii_alphabetic() => {
                    let mut name = String::from(l);
                    while let Some(&l) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
                        name.push(l);
                        chars.next();
                    }
                    Token::Command(name)
                }
                Some(s) => Token::Symbol(s),
                None => Token::Char('\\'),
            },
            '{' => Token::Open,
            '}' => Token::Close,
            '^' => Token::Sup,
            '_' => Token::Sub,
            c if c.is_whitespace() || c == '~' => Token::Char(' '),
            c => Token::Char(c),
        });
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// Atoms (each with its scripts) up to the end or, in a group, its `}`.
    fn sequence(&mut self, in_group: bool) -> Option<String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH + 8 {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.peek() {
                None if in_group => return None,
                None => break,
                Some(Token::Close) if in_group => {
                    self.pos += 1;
                    break;
                }
                Some(Token::Close) => return None,
                Some(Token::Sup | Token::Sub) => {
                    // A script with no base (`{}^2`, `^*`): on nothing.
                    self.scripts(&mut out)?;
                }
                Some(_) => {
                    let atom = self.atom(&out)?;
                    out.push_str(&atom);
                    self.scripts(&mut out)?;
                }
            }
        }
        self.depth -= 1;
        Some(out)
    }

    /// `^x`, `_{ij}` after what is in `out`.
    fn scripts(&mut self, out: &mut String) -> Option<()> {
        while let Some(t @ (Token::Sup | Token::Sub)) = self.peek().cloned() {
            self.pos += 1;
            let arg = self.argument()?;
            let arg = arg.trim();
            let map = if t == Token::Sup {
                symbols::superscript
            } else {
                symbols::subscript
            };
            match arg.chars().map(map).collect::<Option<String>>() {
                Some(s) if !s.is_empty() => out.push_str(&s),
                _ => {
                    out.push(if t == Token::Sup { '^' } else { '_' });
                    out.push_str(&parenthesized(arg));
                }
            }
        }
        Some(())
    }

    /// One argument: a group or a single token, spaces before it skipped.
    fn argument(&mut self) -> Option<String> {
        while self.peek() == Some(&Token::Char(' ')) {
            self.pos += 1;
        }
        match self.peek()? {
            Token::Open => {
                self.pos += 1;
                self.sequence(true)
            }
            Token::Close | Token::Sup | Token::Sub => None,
            _ => self.atom(""),
        }
    }

    /// One atom; `before` is what precedes it (for the space before `\log`).
    fn atom(&mut self, before: &str) -> Option<String> {
        let token = self.peek()?.clone();
        self.pos += 1;
        Some(match token {
            Token::Char('-') => "−".to_owned(),
            Token::Char('\'') => "′".to_owned(),
            // `&` aligns, which inline text cannot.
            Token::Char('&') | Token::Close | Token::Sup | Token::Sub => return None,
            Token::Char(c) => c.to_string(),
            Token::Open => self.sequence(true)?,
            Token::Symbol(c) => match c {
                '{' | '}' | '%' | '$' | '&' | '#' | '_' => c.to_string(),
                '|' => "‖".to_owned(),
                ',' | ':' | ';' | ' ' => " ".to_owned(),
                '!' => String::new(),
                _ => return None,
            },
            Token::Command(name) => self.command(&name, before)?,
        })
    }

    fn command(&mut self, name: &str, before: &str) -> Option<String> {
        if let Some(s) = symbols::math_symbol(name) {
            return Some(s.to_owned());
        }
        if let Some(op) = symbols::operator_name(name) {
            let mut s = String::new();
            if before
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
            {
                s.push(' ');
            }
            s.push_str(op);
            if matches!(self.peek(), Some(Token::Char(c)) if c.is_alphanumeric()) {
                s.push(' ');
            }
            return Some(s);
        }
        if let Some(mark) = symbols::accent(name) {
            let arg = self.argument()?;
            let mut s = String::new();
            for c in arg.chars() {
                s.push(c);
                if !c.is_whitespace() {
                    s.push(mark);
                }
            }
            return Some(s);
        }
        Some(match name {
            "frac" | "dfrac" | "tfrac" => {
                let num = self.argument()?;
                let den = self.argument()?;
                format!(
                    "{}/{}",
                    parenthesized(num.trim()),
                    parenthesized(den.trim())
                )
            }
            "sqrt" => {
                let root = if self.peek() == Some(&Token::Char('[')) {
                    self.pos += 1;
                    let mut index = String::new();
                    loop {
                        match self.peek()? {
                            Token::Char(']') => break,
                            Token::Char(c) => index.push(*c),
                            _ => return None,
                        }
                        self.pos += 1;
                    }
                    self.pos += 1;
                    match index.trim() {
                        "3" => "∛",
                        "4" => "∜",
                        _ => return None,
                    }
                } else {
                    "√"
                };
                format!("{root}{}", parenthesized(self.argument()?.trim()))
            }
            "left" | "right" | "middle" | "big" | "Big" | "bigg" | "Bigg" | "bigl" | "bigr"
            | "Bigl" | "Bigr" | "biggl" | "biggr" | "Biggl" | "Biggr" => {
                if self.peek() == Some(&Token::Char('.')) {
                    self.pos += 1;
                }
                String::new()
            }
            "quad" | "qquad" | "enspace" | "thinspace" => " ".to_owned(),
            "displaystyle" | "textstyle" | "scriptstyle" | "limits" | "nolimits" => String::new(),
            "not" => {
                let arg = self.argument()?;
                format!("{arg}\u{338}")
            }
            _ => {
                // Alphabets and text: `\mathcal{O}`, `\text{ if }`.
                symbols::alphabet(name, 'a')?;
                let arg = self.argument()?;
                arg.chars()
                    .map(|c| symbols::alphabet(name, c).unwrap_or(c))
                    .collect()
            }
        })
    }
}

/// `x` as it can stand before `/`, after `√` or in a script: as it is when it
/// is one word (`n`, `ε₂²`, `1.19`, `log`), else in parentheses.
fn parenthesized(x: &str) -> String {
    let one_word = x
        .chars()
        .all(|c| !c.is_whitespace() && !"+−-·×/=<>,≤≥∼≈:;|∣".contains(c));
    let bracketed =
        (x.starts_with('(') && x.ends_with(')') && x[1..x.len() - 1].find(['(', ')']).is_none())
            || (x.starts_with('[') && x.ends_with(']'));
    if one_word || bracketed {
        x.to_owned()
    } else {
        format!("({x})")
    }
}
