#!/usr/bin/env bash
. "$FCL_TESTS/net/lib.sh"
q() { "$@" >>"$work/stdout.txt"; } # keep the TAP stream clean
# Every example in docs/scenarios.md (except mnist-idx ones, whose data is not
# installed) passes check and compiles against the data.
docs=$FCL_TESTS/../docs/scenarios.md
awk -v dir="$work" '/^```yaml$/ { n++; f = dir "/doc-" n ".yaml"; on = 1; next }
	/^```$/ { on = 0; next } on { print > f }' "$docs"
for f in "$work"/doc-*.yaml; do
	grep -q '^name:' "$f" && ! grep -q mnist-idx "$f" || continue
	name=$(sed -n 's/^name: *//p' "$f")
	check "docs example $name checks and compiles" q "$FCL_SCENARIO" show "$f"
done
finish
