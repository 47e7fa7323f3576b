#!/usr/bin/env python3
"""Reads every `YYYY-MM-DD/papers.bib` that `hotpapers build` wrote with
Python's bibtexparser (version 2, or 1 as a fallback), a BibTeX parser that
reference tools build on, and fails on anything it would stumble over.

Usage:
    check_bibtex.py OUT_DIR         check a whole build
    check_bibtex.py --json FILE     print FILE's entries as JSON (for tests)

For each day folder of OUT_DIR whose page lists papers (`<section
class="paper"`): papers.bib must exist and parse with no failed block, hold
exactly one entry per paper and one COinS span per paper on the page, keys
must be unique, and every entry must be `@misc` with author, title, year,
eprint, archivePrefix = arXiv, primaryClass and an https arXiv url. A day
without papers must have no papers.bib. Exit 0 if all pass, 1 if not.

With --json, prints `{"entries": [{"key", "type", "fields": {name: value}}],
"failed": N}`, values as the parser read them (without the braces that
delimit the field; the title keeps its protecting pair).
"""

import json
import pathlib
import re
import sys

import bibtexparser

REQUIRED = ["author", "title", "year", "eprint", "archiveprefix", "primaryclass", "url"]


def parse(text):
    """Returns (entries, failed): entries as dicts, failed a count of blocks
    the parser could not read (v2 only; v1 raises instead)."""
    if hasattr(bibtexparser, "parse_string"):  # version 2
        library = bibtexparser.parse_string(text)
        entries = [
            {
                "key": e.key,
                "type": e.entry_type.lower(),
                "fields": {f.key.lower(): f.value for f in e.fields},
            }
            for e in library.entries
        ]
        return entries, len(library.failed_blocks)
    parser = bibtexparser.bparser.BibTexParser(common_strings=False)
    parser.ignore_nonstandard_types = False
    db = bibtexparser.loads(text, parser)
    entries = [
        {
            "key": e["ID"],
            "type": e["ENTRYTYPE"].lower(),
            "fields": {k.lower(): v for k, v in e.items() if k not in ("ID", "ENTRYTYPE")},
        }
        for e in db.entries
    ]
    return entries, 0


def check_day(day):
    problems = []
    page = (day / "index.html").read_text(encoding="utf-8")
    papers = page.count('<section class="paper"')
    spans = page.count('<span class="Z3988" title="')
    bib = day / "papers.bib"
    if papers == 0:
        if bib.exists():
            problems.append("papers.bib for a day without papers")
        return problems
    if spans != papers:
        problems.append(f"{spans} COinS spans for {papers} papers")
    if "papers.bib" not in page or "BibTeX for this day" not in page:
        problems.append("the page does not link papers.bib")
    if not bib.is_file():
        return problems + ["no papers.bib"]
    entries, failed = parse(bib.read_text(encoding="utf-8"))
    if failed:
        problems.append(f"{failed} blocks failed to parse")
    if len(entries) != papers:
        problems.append(f"{len(entries)} entries for {papers} papers")
    keys = [e["key"] for e in entries]
    if len(set(keys)) != len(keys):
        problems.append("duplicate keys")
    for e in entries:
        where = f"entry {e['key']}"
        f = e["fields"]
        if e["type"] != "misc":
            problems.append(f"{where}: type {e['type']}")
        missing = [name for name in REQUIRED if not f.get(name)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if f["archiveprefix"] != "arXiv":
            problems.append(f"{where}: archivePrefix {f['archiveprefix']!r}")
        if not re.fullmatch(r"(19|20)\d\d", f["year"]):
            problems.append(f"{where}: year {f['year']!r}")
        if f["url"] != "https://arxiv.org/abs/" + f["eprint"]:
            problems.append(f"{where}: url {f['url']!r} for eprint {f['eprint']!r}")
        key = "arXiv:" + f["eprint"].replace("/", "_")
        if e["key"] != key and not e["key"].startswith(key + "-"):
            problems.append(f"{where}: key does not come from eprint {f['eprint']!r}")
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "--json":
        entries, failed = parse(pathlib.Path(argv[2]).read_text(encoding="utf-8"))
        json.dump({"entries": entries, "failed": failed}, sys.stdout, ensure_ascii=False)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(argv[1])
    days = sorted(
        d for d in out.iterdir() if d.is_dir() and re.fullmatch(r"\d{4}-\d\d-\d\d", d.name)
    )
    failures = 0
    entries = 0
    for day in days:
        problems = check_day(day)
        if (day / "papers.bib").is_file() and not problems:
            entries += len(parse((day / "papers.bib").read_text(encoding="utf-8"))[0])
        for p in problems:
            print(f"{day / 'papers.bib'}: {p}", file=sys.stderr)
        failures += bool(problems)
    if not days:
        print(f"{out}: no day folders", file=sys.stderr)
        return 1
    print(
        f"bibtexparser {bibtexparser.__version__}: {len(days)} days, {entries} entries, "
        f"{failures} days with problems"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
