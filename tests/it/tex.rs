//! TeX in abstracts and titles, as a specification: every TeX construct the
//! sample corpus holds, as HTML for pages and feeds (MathML), as HTML for
//! mail (Unicode math) and as plain text; and hostile TeX, which must stay
//! inert text and cost bounded work.

use hotpapers::digest::load_archive;
use hotpapers::tex::{self, HtmlOptions, MathOutput, Rich};
use serde::Serialize;

use crate::support::fixture;

const PAGE: HtmlOptions = HtmlOptions {
    math: MathOutput::MathMl,
    links: true,
};
const MAIL: HtmlOptions = HtmlOptions {
    math: MathOutput::Unicode,
    links: true,
};

#[derive(Serialize)]
struct Case {
    tex: &'static str,
    text: String,
    mail_html: String,
    page_html: String,
}

fn case(tex: &'static str) -> Case {
    let rich = Rich::parse(tex);
    Case {
        tex,
        text: rich.text(),
        mail_html: rich.html(MAIL),
        page_html: rich.html(PAGE),
    }
}

/// One line per construct found in the corpus (`grep -o '\\[a-zA-Z]\+'`,
/// `$`, accents, quotes and dashes over `digests/`, the corpus and the
/// seeds), taken from the abstracts and titles where they occur.
#[test]
fn every_tex_construct_of_the_sample_corpus() {
    let cases: Vec<Case> = [
        // accents and letters
        r"the 151 original Pok\'emon",
        r"Bogot\'a (Colombia)",
        r"EMOPIA (pronounced `yee-m\`{o}-pi-uh')",
        r#"Erd\H{o}s, G\"{o}del, \v{C}ech, Fran\c{c}ois, {\'e}t\'e, na\"ive, \'{\i}, \ss, \o"#,
        // text styles
        r"this \textit{data leverage}",
        r"combining A* with a novel \emph{trellis} data structure",
        r"a \textbf{bold} claim and {\bf old style} and {\it italics}",
        r"variants of $\texttt{MeerCRAB}$",
        // links
        r"Code is available at \url{https://github.com/ZENGXH/NPDRAW}.",
        r"Our project page is ~\url{https://wty-ustc.github.io/inversion}.",
        r"available at: \url{github.com/KazuyaHoribe/RegeneratingSoftRobots}.",
        r"publicly available \footnote{\url{https://github.com/mks0601/I2L-MeshNet_RELEASE}}",
        r"see \href{https://e.org/x}{our \emph{page}} for more",
        r"Code: https://github.com/deepmind/ deepmind-research/tree/master/nfnets",
        r"at https://qianlim.github.io/SCALE . And https://vcc.tech/UrbanScene3D/) for",
        r"the Transformers \cite{vaswani2017attention}, where",
        // punctuation
        r"P-tuning -- which employs --- prompts; at ~GeV energies; 64\% (P@1) and 9.4\%",
        r"the latent variable ``what-to-draw'' per step; the `near OOD' classes",
        r"inexpensive (about \SI{5000}[\$]{})",
        r"up to 100 for challenging 360{\deg} scenes",
        // math
        r"$\mathcal{O}(n \log n)$ and $\mathcal{D}(x)$ and $\mathcal{E}$",
        r"a regret in $\sqrt{T}$ after $T$ steps",
        r"$f<\frac{n}{3}$ faulty parties, $\tilde{O}(n^3)$ expected, $\Omega(n^4)$",
        r"an $\tilde O(mn)$-time algorithm; $m^{4/3+o(1)}$; $\tilde O(m^{\alpha})$ for $\alpha \ge 1$",
        r"$mn^{1-1/12+o(1)}$ time and $n t^{\omega-1}$ where $ n^{\omega/2}<n^{1.19}$",
        r"the $\phi^{4}$ scalar field theory; $\varepsilon_1 = \varepsilon_2/2$; $\ell_1$ norm",
        r"over $\{1, \dots, n\}$, is it $\varepsilon_1$-close",
        r"$\Theta(\sqrt{n})$ and $\Theta(n/\log n)$ and $2^{\Omega(n)}$ copies",
        r"PPAD $\cap$ PLS; the domain $[0,1]^2$; $\pi$-GAN; $\rho$",
        r"$512\times512$ and $13\times$ faster and $0.72 \times$ and $\sim$70% and $10^{15}$ trees",
        r"by $\textbf{up to 0.14$\sim$0.45dB}$, reduced by $\textbf{up to 67%}$.",
        r"$\epsilon = 5.36$ and $\beta$ and $\max$ and $\cdot$",
        r"\[\tilde \Theta\left(\frac{\sqrt{n}}{\varepsilon_2^{2}} + \frac{n}{\log n} \cdot \max \left\{\frac{\varepsilon_1}{\varepsilon_2^2},\left(\frac{\varepsilon_1}{\varepsilon_2^2}\right)^{\!\!2}\right\}\right),\] providing",
        r"Semi-parametric $γ$-ray modeling",
        r"The Complexity of Gradient Descent: CLS = PPAD $\cap$ PLS",
        r"inline \(x^2 + y_i\) too",
    ]
    .into_iter()
    .map(case)
    .collect();
    insta::assert_yaml_snapshot!("tex_constructs", cases);
}

#[test]
fn the_issue_examples_read_as_promised() {
    assert_eq!(tex::to_text(r"Pok\'emon"), "Pokémon");
    assert_eq!(
        tex::to_text(r"$x^2$, $\alpha$, $\times$, $\sqrt{n}$"),
        "x², α, ×, √n"
    );
    assert_eq!(tex::to_text(r"$\mathcal{O}(n \log n)$"), "𝒪(n log n)");
    assert_eq!(
        tex::to_text(r"$\textbf{up to 0.14$\sim$0.45dB}$"),
        "up to 0.14∼0.45dB"
    );
    assert_eq!(
        Rich::parse(r"\emph{a} \textbf{b}").html(MAIL),
        "<em>a</em> <strong>b</strong>"
    );
    assert_eq!(
        tex::to_html(r"\url{https://github.com/x}"),
        r#"<a href="https://github.com/x" rel="nofollow noopener noreferrer">https://github.com/x</a>"#
    );
    assert_eq!(tex::to_text("a~b -- c"), "a\u{a0}b – c");
    let math = tex::to_html("$x^2$");
    assert!(
        math.starts_with("<math>") && math.ends_with("</math>"),
        "{math}"
    );
}

#[test]
fn a_formula_no_converter_handles_stays_as_its_source() {
    // Unknown to both converters: shown as written, never in part.
    for source in [r"$\foo{x} + y$", r"$a & b$", r"$\frac{1}{$"] {
        let text = tex::to_text(source);
        assert!(text.contains(source) || text == source, "{source} → {text}");
    }
    assert_eq!(tex::to_text(r"$\foo{x} + y$"), r"$\foo{x} + y$");
    assert_eq!(tex::to_html(r"$\foo{x}$ <"), r"$\foo{x}$ &lt;");
    // Unicode has no form for this one, MathML does: each output uses what it can.
    let rich = Rich::parse(r"$\sqrt[5]{x}$");
    assert_eq!(rich.text(), r"$\sqrt[5]{x}$");
    assert!(rich.html(PAGE).contains("<mroot>"), "{}", rich.html(PAGE));
    // A lone dollar is a dollar.
    assert_eq!(tex::to_text("costs $5 a month"), "costs $5 a month");
}

#[test]
fn hostile_tex_is_inert_text() {
    for (source, text) in [
        (r"\input{/etc/passwd}", r"\input{/etc/passwd}"),
        (r"\write18{rm -rf /}", r"\write18{rm -rf /}"),
        (r"\def\x{1}\x", r"\def\x{1}\x"),
        (r"$\input{/etc/passwd}$", r"$\input{/etc/passwd}$"),
        (r"$\def\x{1}\x$", r"$\def\x{1}\x$"),
        (
            "unbalanced {open and \\emph{x",
            "unbalanced {open and \\emph{x",
        ),
        (
            "unbalanced close} and } twice",
            "unbalanced close} and } twice",
        ),
        (r"\emph{unclosed", r"\emph{unclosed"),
        ("\\", "\\"),
        ("$", "$"),
        ("$$", "$$"),
        (r"\(", r"\("),
    ] {
        assert_eq!(tex::to_text(source), text, "{source}");
    }
    // Markup in TeX is text, in and out of formulas.
    for source in [
        r"<script>alert(1)</script> \emph{<b>}",
        r"$\text{<script>}$ $<img src=x onerror=alert(1)>$",
        r#"\href{javascript:alert(1)}{click} \url{javascript:alert(1)} \href{"><script>}{x}"#,
        r"$\href{javascript:alert(1)}{x}$",
    ] {
        let html = tex::to_html(source);
        assert!(
            !html.contains("<script") && !html.contains("<img") && !html.contains("<b>"),
            "{html}"
        );
        assert!(!html.contains("href=\"javascript"), "{html}");
    }
}

#[test]
fn ten_thousand_nested_groups_are_read_on_a_small_stack() {
    let nested = format!("{}x{}", "{".repeat(10_000), "}".repeat(10_000));
    let math = format!("${}x{}$", "{".repeat(10_000), "}".repeat(10_000));
    let emph = format!("{}x{}", r"\emph{".repeat(10_000), "}".repeat(10_000));
    let unbalanced = "{".repeat(100_000);
    let results = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            [
                tex::to_text(&nested),
                tex::to_html(&math),
                tex::to_html(&emph).len().to_string(),
                tex::to_text(&unbalanced).len().to_string(),
            ]
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(results[0], "x");
    assert!(
        results[1].starts_with('$') && !results[1].contains("<math"),
        "too deep: source"
    );
    assert_eq!(results[3], "100000", "unmatched braces are literal");
}

#[test]
fn long_hostile_input_costs_linear_work() {
    let dollars = "$a".repeat(50_000);
    let braces = "}{".repeat(50_000);
    let commands = r"\x".repeat(50_000);
    let started = std::time::Instant::now();
    for s in [&dollars, &braces, &commands] {
        let _ = tex::to_html(s);
    }
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

/// Every title and abstract of the sample digests: what TeX remains after
/// conversion is only what no converter here knows, listed.
#[test]
fn the_sample_archive_keeps_no_tex_but_the_unconvertible() {
    let archive = load_archive(&fixture("corpus")).unwrap();
    let mut left: Vec<String> = Vec::new();
    for p in archive.iter().flat_map(|d| &d.papers) {
        for field in [&p.title, &p.abstract_text] {
            let text = tex::to_text(field);
            for (i, _) in text.match_indices('\\') {
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                if !name.is_empty() {
                    left.push(format!("\\{name}"));
                }
            }
        }
    }
    left.sort();
    left.dedup();
    assert_eq!(left, Vec::<String>::new(), "TeX commands left in the text");
}
