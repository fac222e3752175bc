#!/usr/bin/env python3
"""Prints one closing line for everything ./dev.sh test ran:
'N passed, N failed, N skipped'.

Reads meson's testlog.json files (one JSON object per line) and the fuzz
result line.  A test program that reports its own counts (Criterion's
'Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N', or an e2e
scenario's 'N passed, N failed') contributes those (a Criterion test that
skipped itself prints 'SKIP suite::test: why', and counts as skipped); any
other program counts as one.  A program whose result is not OK counts as failed even if its own
counts say otherwise.  Exits 1 if anything failed or nothing ran."""
import json
import os
import re
import sys

CRITERION = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed", re.M)
SKIP = re.compile(r"^SKIP \S+::\S+: ", re.M)

passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        print(f"summary: {path} is missing", file=sys.stderr)
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            result = t.get("result", "")
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            if result == "SKIP":
                skipped += 1
                continue
            ok = result in ("OK", "EXPECTEDFAIL")
            c = CRITERION.findall(out)
            p = PLAIN.findall(out)
            if c:
                _, p_, f_, x_ = map(int, c[-1])
                passed, failed = passed + p_, failed + f_ + x_
                # Criterion leaves a cr_skip_test() out of its counts; the
                # tests that skip print "SKIP suite::test: why" first.
                skipped += len(SKIP.findall(out))
                if not ok and f_ + x_ == 0:
                    failed += 1
            elif p:
                p_, f_ = map(int, p[-1])
                passed, failed = passed + p_, failed + f_
                if not ok and f_ == 0:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
            if not ok:
                print(f"FAILED: {t.get('name')} ({result})")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
