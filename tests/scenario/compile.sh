#!/usr/bin/env bash
# Compiling is a pure function of (file, seed, data): fcl-scenario compile
# twice gives byte-identical CSV files; another seed gives another stream.
. "$FCL_TESTS/net/lib.sh"
q() { "$@" >>"$work/stdout.txt"; } # keep the TAP stream clean
digest() { (cd "$1" && sha256sum ./*.csv | sha256sum | cut -c1-16); }
for name in si-blurry-fashion async-arrival powerlaw-fashion permuted-fashion-fot; do
	f=$FCL_TESTS/scenarios/smoke/$name-smoke.yaml
	check "$name compiles" q "$FCL_SCENARIO" compile "$f" -o "$work/$name-a" --samples
	check "$name compiles again" q "$FCL_SCENARIO" compile "$f" -o "$work/$name-b" --samples
	check "$name compiles with --seed 99" q "$FCL_SCENARIO" compile "$f" -o "$work/$name-c" --samples --seed 99
	a=$(digest "$work/$name-a") b=$(digest "$work/$name-b") c=$(digest "$work/$name-c")
	note "$name: CSV digests $a (twice: $b), seed 99: $c"
	check "$name: the same file and seed give byte-identical CSV" test "$a" = "$b"
	check "$name: another seed gives another stream" \
		sh -c "! cmp -s '$work/$name-a/samples.csv' '$work/$name-c/samples.csv'"
	for csv in tasks clients timeline rounds samples; do
		check "$name: $csv.csv written" test -s "$work/$name-a/$csv.csv"
	done
done
check "blurry.csv written for si-blurry" test -s "$work/si-blurry-fashion-a/blurry.csv"
note "blurry.csv: $(tr '\n' ';' <"$work/si-blurry-fashion-a/blurry.csv")"
check "compile of a malformed file fails with file:line:col" \
	sh -c "! '$FCL_SCENARIO' compile '$FCL_TESTS/scenarios/bad/05-negative-count.yaml' -o '$work/bad' 2>'$work/bad.err' && grep -q '05-negative-count.yaml:5:10: clients.count' '$work/bad.err'"
finish
