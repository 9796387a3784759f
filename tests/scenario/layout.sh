#!/usr/bin/env bash
. "$FCL_TESTS/net/lib.sh"
# The per-client schedule does not depend on the process layout: an
# out-of-phase scenario with participation draws, an online Si-Blurry one and
# one with power-law recurrence give byte-identical results in 1 and 3
# client processes.
for name in async-arrival si-blurry-fashion powerlaw-fashion; do
	f=$FCL_TESTS/scenarios/smoke/$name-smoke.yaml
	"$FCL_SIM" "$f" --procs 1 --quiet --run-dir "$work/$name-p1" >/dev/null 2>&1
	"$FCL_SIM" "$f" --procs 3 --quiet --run-dir "$work/$name-p3" >/dev/null 2>&1
	check "$name: 1 and 3 client processes give byte-identical metrics.json" \
		cmp -s "$work/$name-p1/metrics.json" "$work/$name-p3/metrics.json"
	check "$name: ... and eval.csv" cmp -s "$work/$name-p1/eval.csv" "$work/$name-p3/eval.csv"
	digests=$(cat "$work/$name-p3"/server.log "$work/$name-p3"/client-*.log |
		sed -n 's/.*schedule digest \([0-9a-f]*\).*/\1/p' | sort | uniq -c)
	note "$name: schedule digests (count digest): $(echo $digests)"
	check "$name: the server and its 3 client processes compiled the same schedule" \
		test "$(echo "$digests" | wc -l)" -eq 1 -a "$(echo $digests | cut -d' ' -f1)" -eq 4
done
finish
