#!/usr/bin/env python3
"""Bounce classifier quality against a corpus with expected results.

The classifier is `hotpapers bounces classify --json`; this script runs it on
every message named in an expectations file and compares.

    # 1. an expectations file from sisimai's test tables (rb-sisimai's
    #    test/public/*.rb: INDEX => [[status, reply code, reason, hardbounce]...])
    benches/bounce-quality.py expectations RB_SISIMAI/test/public > expect.tsv
    # 2. the score, given the folder of messages (set-of-emails/maildir/bsd)
    benches/bounce-quality.py score RB_SISIMAI/set-of-emails/maildir/bsd expect.tsv \
        [--bin target/release/hotpapers] [--show-misses]

The expectations file is tab-separated: file name, then one field per failed
recipient `status|reply code|reason|hard` (hard is 1 or 0). The corpus and the
expectations stay outside the repository.

Printed figures, over the messages whose expected reason is a bounce (not
`feedback`, `vacation`, `delivered`):
  recipient found   the classifier said `bounce` and named a recipient address
                    (also shown: how many it called a `delivery_report`, a delay
                    notice, which the expectations count as soft bounces)
  hard/soft agree   the first recipient's verdict equals the expected one (a
                    message where nothing was found counts as soft)
  soft called hard  of the expected-soft messages, those called hard
and, over the others, how many were not called a bounce.
"""
import json
import os
import re
import subprocess
import sys

NOT_BOUNCES = {"feedback", "vacation", "delivered"}


def expectations(test_dir):
    entry = re.compile(r"'(\d+)'\s*=>\s*\[(.*?)\]\s*\]\s*,", re.S)
    tuple_re = re.compile(r"\[\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(true|false)")
    for name in sorted(os.listdir(test_dir)):
        if not name.endswith(".rb"):
            continue
        text = open(os.path.join(test_dir, name), encoding="utf-8").read()
        if "IsExpected" not in text:
            continue
        stem = name[:-3].lower()
        for index, body in entry.findall(text):
            rows = tuple_re.findall(body)
            if not rows:
                continue
            fields = ["%s|%s|%s|%d" % (s, c, r, h == "true") for s, c, r, h in rows]
            print("\t".join(["%s-%s.eml" % (stem, index)] + fields))


def score(folder, expect_path, binary, show_misses):
    expected = {}
    for line in open(expect_path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        rows = [p.split("|") for p in parts[1:]]
        expected[parts[0]] = [(s, c, r, h == "1") for s, c, r, h in rows]
    files = [f for f in expected if os.path.exists(os.path.join(folder, f))]
    missing = len(expected) - len(files)
    out = subprocess.run(
        [binary, "bounces", "classify", "--json"] + [os.path.join(folder, f) for f in files],
        capture_output=True, text=True, check=False,
    ).stdout
    got = {}
    for line in out.splitlines():
        report = json.loads(line)
        got[os.path.basename(report["file"])] = report
    bounces = found = agree = soft = soft_hard = others = others_wrong = delays = 0
    misses = []
    for f in files:
        exp = expected[f]
        rep = got.get(f, {"kind": "missing", "recipients": []})
        if exp[0][2] in NOT_BOUNCES:
            others += 1
            if rep["kind"] == "bounce":
                others_wrong += 1
                misses.append((f, "not a bounce", exp[0], rep))
            continue
        bounces += 1
        if rep["kind"] == "delivery_report":
            delays += 1
        recipients = rep["recipients"] if rep["kind"] == "bounce" else []
        if any(r.get("address") for r in recipients):
            found += 1
        else:
            misses.append((f, "no recipient", exp[0], rep))
        hard = bool(recipients) and recipients[0]["hard"]
        if hard == exp[0][3]:
            agree += 1
        else:
            misses.append((f, "called hard" if hard else "called soft", exp[0], rep))
        if not exp[0][3]:
            soft += 1
            if hard:
                soft_hard += 1
    pct = lambda n, d: 100.0 * n / d if d else 0.0
    print("messages: %d (%d bounces, %d not bounces; %d named but absent)" % (len(files), bounces, others, missing))
    print("recipient found:  %5.1f%%  (%d/%d)" % (pct(found, bounces), found, bounces))
    print("  of the %d that are not delay notices: %5.1f%%" % (bounces - delays, pct(found, bounces - delays)))
    print("hard/soft agree:  %5.1f%%  (%d/%d)" % (pct(agree, bounces), agree, bounces))
    print("soft called hard: %5.1f%%  (%d/%d)" % (pct(soft_hard, soft), soft_hard, soft))
    print("not-bounces called bounce: %d/%d" % (others_wrong, others))
    if show_misses:
        for f, why, exp, rep in misses:
            first = rep["recipients"][0] if rep.get("recipients") else {}
            print("%-32s %-13s expected %s/%s/%s got %s %s/%s/%s" % (
                f, why, exp[0], exp[2], exp[3], rep["kind"], first.get("status"),
                first.get("reason"), first.get("hard")))


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "expectations":
        expectations(args[1])
    elif len(args) >= 3 and args[0] == "score":
        binary = "target/release/hotpapers"
        if "--bin" in args:
            binary = args[args.index("--bin") + 1]
        score(args[1], args[2], binary, "--show-misses" in args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
