#!/usr/bin/env bash
# FOT end to end: bases grow at every task end, the run does not depend on the
# process layout, and a bad sketch is rejected without stopping the run.
. "$(dirname "$0")/lib.sh"
sed 's/rule: fedavg/rule: fot/' "$FCL_TESTS/scenarios/compare.yaml" >"$work/fot.yaml"
run() { "$FCL_SIM" "$work/fot.yaml" --quiet --run-dir "$work/$1" "${@:2}" >"$work/$1.out" 2>&1; }

check "FOT run on 1 process completes" run one --procs 1
check "FOT run on 3 processes completes" run three --procs 3
check "metrics.json identical across layouts" cmp -s "$work/one/metrics.json" "$work/three/metrics.json"
check "fot.csv has a row per task and layer (3 x 2 + header)" test "$(wc -l <"$work/one/fot.csv")" -eq 7
grows() { awk -F, 'NR > 1 { if (($1 > 0 && $8 < last[$2]) || $7 < 1) bad = 1; last[$2] = $8 }
	END { exit bad }' "$work/one/fot.csv"; }
check "every layer's basis grows at every task end (norm rule)" grows
check "every participant's sketches were used" \
	sh -c "! awk -F, 'NR > 1 && \$9 != 4' '$work/one/fot.csv' | grep -q ."
# The cost breakdown: every round line has one; clients report training,
# sketches and sending, the coordinator its parts; summary.md has the run's table.
rounds() { grep '"event":"round"' "$work/three/events.jsonl"; }
every_round_has_cost() { ! rounds | grep -vq '"cost":{"train":'; }
no_round_without_samples() { ! rounds | grep -q '"samples":0,'; }
cost_sum_positive() { # cost_sum_positive KEY: the rounds' KEY adds up to more than 0
	rounds | sed -n "s/.*\"cost\":{.*\"$1\":\([0-9.]*\).*/\1/p" |
		awk '{ s += $1; n++ } END { exit !(n > 0 && s > 0) }'
}
check "every round line has a cost breakdown" every_round_has_cost
check "every round reports the samples its updates trained on" no_round_without_samples
for key in train rule client_send receive validate aggregate project send; do
	check "the rounds' cost \"$key\" was measured" cost_sum_positive $key
done
check "summary.md has the cost breakdown" grep -q '^## Where the time went' "$work/three/summary.md"
check "a run where client 1 sends NaN sketches completes" \
	run nan --procs 2 --client-arg=--fault=rule-nan:1
check "its NaN sketches are rejected and logged" \
	grep -Eq "fot message from client 1 (in round [0-9]+ )?rejected( by its process)?: non-finite values" "$work/nan/server.log"
check "the other clients' sketches still grow the bases" \
	awk -F, 'NR > 1 && $8 > 0 { ok = 1 } END { exit !ok }' "$work/nan/fot.csv"
finish
