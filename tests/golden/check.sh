#!/usr/bin/env bash
# Golden results: every run of tests/golden/runs.txt must give the parameters
# checksum and the metrics.json / eval.csv bytes recorded in expected.txt.
#   tests/golden/check.sh            TAP, compares (the `golden` test suite)
#   tests/golden/check.sh --record   rewrites expected.txt from this build
# FCL_SIM names the fcl-sim binary (default build/tools/fcl-sim).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
sim=${FCL_SIM:-$root/build/tools/fcl-sim}
expected=$root/tests/golden/expected.txt
record=0
[ "${1:-}" = --record ] && record=1
work=$(mktemp -d /tmp/fcl-golden-XXXXXX)
trap 'rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1
# OpenBLAS picks its kernels by CPU and different kernels round differently:
# pin one that every x86-64 machine with AVX2 runs, so that expected.txt holds
# on other machines too (the checksums documented in docs/results.md are these).
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
n=0 failed=0 out=""
while IFS='|' read -r name scenario procs args; do
	case "$name" in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # args is a list of words
	if ! (cd "$root" && "$sim" "$scenario" --quiet --procs "$procs" --run-dir "$work/$name" $args) \
		>"$work/$name.out" 2>&1; then
		line="$name FAILED"
		tail -n 5 "$work/$name.out" | sed 's/^/# /'
	else
		sum=$(sed -n 's/^ *"params_checksum": *"\([0-9a-f]*\)".*/\1/p' "$work/$name/metrics.json")
		m=$(sha256sum <"$work/$name/metrics.json" | cut -c1-16)
		e=$(sha256sum <"$work/$name/eval.csv" | cut -c1-16)
		line="$name $sum $m $e"
	fi
	out="$out$line"$'\n'
	n=$((n + 1))
	if [ "$record" -eq 1 ]; then
		echo "# $line"
	elif want=$(grep "^$name " "$expected") && [ "$want" = "$line" ]; then
		echo "ok $n - $name: $line"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name: got '$line', expected '${want:-nothing}'"
	fi
done <"$root/tests/golden/runs.txt"
if [ "$record" -eq 1 ]; then
	printf '%s' "$out" >"$expected"
	echo "recorded $n runs in $expected"
	exit 0
fi
echo "1..$n"
[ "$failed" -eq 0 ]
