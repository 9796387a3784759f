#!/usr/bin/env bash
# Same scenario and seed => bit-identical metrics.json and final parameters,
# whether 4 logical clients live in 1 process or in 4; a repeat gives the same.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/determinism.yaml
run() { "$FCL_SIM" "$scn" --quiet --run-dir "$work/$1" "${@:2}" >"$work/$1.out" 2>&1; }

check "1 process x 4 clients runs" run one --procs 1
check "4 processes x 1 client runs" run four --procs 4
check "repeat of 1 x 4 runs" run again --procs 1
check "another seed runs" run seed2 --procs 2 --seed 12
for r in one four again seed2; do
	[ -s "$work/$r/metrics.json" ] || cat "$work/$r.out" "$work/$r"/*.log 2>/dev/null | tail -n 30 | sed 's/^/# /'
done
sum_one=$(json_field "$work/one/metrics.json" params_checksum)
note "checksums: 1x4 $sum_one, 4x1 $(json_field "$work/four/metrics.json" params_checksum)," \
	"repeat $(json_field "$work/again/metrics.json" params_checksum)," \
	"seed 12 $(json_field "$work/seed2/metrics.json" params_checksum)"
check "metrics.json is complete" grep -q '"complete": true' "$work/one/metrics.json"
check "1x4 and 4x1 give byte-identical metrics.json" cmp -s "$work/one/metrics.json" "$work/four/metrics.json"
check "a repeat gives byte-identical metrics.json" cmp -s "$work/one/metrics.json" "$work/again/metrics.json"
check "eval.csv is identical across layouts" cmp -s "$work/one/eval.csv" "$work/four/eval.csv"
check "another seed gives another model" test "$sum_one" != "$(json_field "$work/seed2/metrics.json" params_checksum)"
check "the model learned something (final accuracy above chance)" \
	awk -v a="$(json_field "$work/one/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.15) }'
finish
