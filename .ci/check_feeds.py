#!/usr/bin/env python3
"""Reads every feed `hotpapers build` wrote with Python's feedparser, the
parser most feed readers and services build on, and fails on anything it
would stumble over.

Usage: check_feeds.py OUT_DIR

For each Atom/RSS file (OUT_DIR/*.xml but the sitemap, OUT_DIR/categories/*.xml): bozo must be
0 (well-formed, no encoding or namespace trouble), there must be entries, and
every entry must have an id, a link, a title, a date and content; ids and
links must be absolute and ids unique. feed.json is checked as JSON Feed 1.1.
feeds.opml must list every feed file that exists, and no entry id may occur in
two of the Atom feeds it lists (readers such as newsboat key entries by id
alone, across feeds). Exit 0 if all pass, 1 if not.
"""

import json
import pathlib
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import feedparser


def absolute(url):
    parts = urllib.parse.urlsplit(url or "")
    return parts.scheme in ("http", "https", "tag") and (parts.netloc or parts.scheme == "tag")


def check_xml(path):
    problems = []
    d = feedparser.parse(path.read_bytes())
    if d.bozo:
        problems.append(f"bozo: {d.bozo_exception!r}")
    if not d.entries:
        problems.append("no entries")
    if not d.feed.get("title"):
        problems.append("feed has no title")
    ids = set()
    for i, e in enumerate(d.entries, 1):
        missing = [
            name
            for name, ok in [
                ("id", e.get("id")),
                ("link", e.get("link")),
                ("title", e.get("title")),
                ("date", e.get("updated_parsed") or e.get("published_parsed")),
                ("content", e.get("content") or e.get("summary")),
            ]
            if not ok
        ]
        if missing:
            problems.append(f"entry {i} lacks {', '.join(missing)}")
        if not absolute(e.get("id")):
            problems.append(f"entry {i}: id {e.get('id')!r} is not absolute")
        if not absolute(e.get("link")):
            problems.append(f"entry {i}: link {e.get('link')!r} is not absolute")
        if e.get("id") in ids:
            problems.append(f"entry {i}: duplicate id {e.get('id')!r}")
        ids.add(e.get("id"))
    return problems, f"{d.version}, {len(d.entries)} entries", ids


def check_json(path):
    problems = []
    try:
        feed = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        return [f"not JSON: {err}"], "invalid"
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append(f"version is {feed.get('version')!r}")
    for key in ("title", "home_page_url", "feed_url"):
        if not feed.get(key):
            problems.append(f"no {key}")
    items = feed.get("items") or []
    if not items:
        problems.append("no items")
    ids = set()
    for i, item in enumerate(items, 1):
        for key in ("id", "url", "title", "date_published", "content_html"):
            if not item.get(key):
                problems.append(f"item {i} lacks {key}")
        if item.get("id") in ids:
            problems.append(f"item {i}: duplicate id {item.get('id')!r}")
        ids.add(item.get("id"))
        if not absolute(item.get("url")):
            problems.append(f"item {i}: url {item.get('url')!r} is not absolute")
    return problems, f"json feed, {len(items)} items"


def check_opml(path, out):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        return [f"not XML: {err}"], "invalid"
    listed = {o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")}
    names = {urllib.parse.urlsplit(u).path.lstrip("/") for u in listed}
    # The site may live under a path: compare by the part after the last feed folder.
    problems = []
    expected = ["atom.xml", "papers.xml"] + [
        f"categories/{p.name}" for p in sorted((out / "categories").glob("*.xml"))
    ]
    for rel in expected:
        if not any(n == rel or n.endswith("/" + rel) for n in names):
            problems.append(f"does not list {rel}")
    return problems, f"opml, {len(listed)} feeds"


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    # sitemap.xml is the search engines' list of pages, not a feed.
    files = [p for p in sorted(out.glob("*.xml")) if p.name != "sitemap.xml"]
    files += sorted(out.glob("categories/*.xml"))
    failed = 0
    checked = 0
    # Entry id -> the Atom feeds (of the OPML bundle) holding it.
    seen = {}
    for path in files + [out / "feed.json", out / "feeds.opml"]:
        rel = path.relative_to(out)
        if not path.exists():
            print(f"FAIL {rel}: missing")
            failed += 1
            continue
        if path.suffix == ".json":
            problems, what = check_json(path)
        elif path.suffix == ".opml":
            problems, what = check_opml(path, out)
        else:
            problems, what, ids = check_xml(path)
            if str(rel) != "rss.xml":
                for entry_id in ids:
                    seen.setdefault(entry_id, []).append(str(rel))
        checked += 1
        if problems:
            failed += 1
            print(f"FAIL {rel} ({what})")
            for p in problems[:20]:
                print(f"  {p}")
    shared = {i: f for i, f in seen.items() if len(f) > 1}
    if shared:
        failed += 1
        print(f"FAIL {len(shared)} entry ids occur in more than one feed of feeds.opml")
        for entry_id, feeds in sorted(shared.items())[:20]:
            print(f"  {entry_id}: {', '.join(feeds)}")
    print(f"{checked} feed files checked with feedparser {feedparser.__version__}, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
