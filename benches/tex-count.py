#!/usr/bin/env python3
"""How much TeX reaches readers: TeX commands (`\\name`) and `$` signs left in
the text of every feed and every email of a digest archive.

    python3 benches/tex-count.py [BINARY [DIGESTS]]

BINARY defaults to target/debug/hotpapers, DIGESTS to digests/. It runs
`BINARY build` of DIGESTS and `BINARY preview --date D` of each digest with
papers into a temporary folder, then counts in the text readers see:

* feeds (atom.xml, rss.xml, papers.xml, categories/*.xml, feed.json): every
  title, summary and content, HTML content reduced to its text (tags
  dropped, entities decoded; MathML's text is its rendered symbols);
* emails: the text/plain part, and the text of the text/html part.

A command is `\\` followed by ASCII letters; `$` is every dollar sign (two
per formula left as source). Prints one Markdown table row per kind of file.
"""

import email
import email.policy
import glob
import html
import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

COMMAND = re.compile(r"\\[A-Za-z]+")


class Text(html.parser.HTMLParser):
    """The text of an HTML fragment, without <style>/<script> content."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "script") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(markup):
    p = Text()
    p.feed(markup)
    return " ".join(p.parts)


def count(text):
    return len(COMMAND.findall(text)), text.count("$")


def xml_feed_text(path):
    root = ET.parse(path).getroot()
    out = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("title", "summary", "content", "description", "encoded", "subtitle"):
            value = "".join(el.itertext())
            html_like = el.get("type") in ("html", "xhtml") or tag in ("description", "encoded")
            out.append(html_text(value) if html_like else value)
    return "\n".join(out)


def json_feed_text(path):
    feed = json.load(open(path, encoding="utf-8"))
    out = [feed.get("title", "")]
    for item in feed.get("items", []):
        out += [item.get("title", ""), item.get("summary", ""), item.get("content_text", "")]
        out.append(html_text(item.get("content_html", "")))
    return "\n".join(out)


def email_parts(path):
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    markup = html_text(msg.get_body(("html",)).get_content())
    return msg["Subject"] + "\n" + text, markup


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/hotpapers")
    digests = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "digests")
    rows = {}

    def add(kind, text):
        c, d = count(text)
        files, cs, ds = rows.get(kind, (0, 0, 0))
        rows[kind] = (files + 1, cs + c, ds + d)

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HOTPAPERS_DIGESTS=digests, HOTPAPERS_OUTBOX=tmp + "/outbox")
        subprocess.run([binary, "-q", "build", "--out", tmp + "/public"], cwd=tmp, env=env, check=True)
        pub = tmp + "/public"
        for name in ["atom.xml", "rss.xml", "papers.xml"]:
            add(name, xml_feed_text(os.path.join(pub, name)))
        for path in sorted(glob.glob(pub + "/categories/*.xml")):
            add("categories/*.xml", xml_feed_text(path))
        add("feed.json", json_feed_text(pub + "/feed.json"))
        for md in sorted(glob.glob(digests + "/*.md")):
            day = os.path.basename(md)[:10]
            r = subprocess.run(
                [binary, "-q", "preview", "--date", day, "--out", tmp + "/preview"],
                cwd=tmp, env=env, capture_output=True,
            )
            if r.returncode != 0:
                continue  # a day without papers has no email
            text, markup = email_parts(f"{tmp}/preview/{day}.eml")
            add("email text part (+ subject)", text)
            add("email HTML part", markup)

    print("| output | files | `\\name` commands | `$` signs |")
    print("| --- | ---: | ---: | ---: |")
    total = [0, 0, 0]
    for kind, (files, c, d) in rows.items():
        print(f"| {kind} | {files} | {c} | {d} |")
        total = [total[0] + files, total[1] + c, total[2] + d]
    print(f"| all | {total[0]} | {total[1]} | {total[2]} |")


if __name__ == "__main__":
    main()
