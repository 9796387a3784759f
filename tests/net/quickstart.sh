#!/usr/bin/env bash
# The README's main job, as a test: the shipped quick start runs to the end on
# real Fashion-MNIST in 2 client processes and leaves a complete run folder.
. "$(dirname "$0")/lib.sh"
out=$work/qs
"$FCL_SIM" "$FCL_SCENARIOS/quickstart.yaml" --procs 2 --run-dir "$out" >"$work/qs.out" 2>&1; rc=$?
sed 's/^/# /' "$work/qs.out" | tail -n 20
check "fcl-sim exits 0" test "$rc" -eq 0
check "it printed the accuracy matrix" grep -q "accuracy matrix" "$work/qs.out"
for f in scenario.yaml events.jsonl eval.csv metrics.json summary.txt; do
	check "run folder has $f" test -s "$out/$f"
done
check "two client processes took part" test "$(ls "$out"/client-*.log | wc -l)" -eq 2
check "metrics.json has a 5x5 matrix and the summary metrics" \
	grep -q '"forgetting_max"' "$out/metrics.json"
acc=$(json_field "$out/metrics.json" final_avg_acc)
fgt=$(json_field "$out/metrics.json" forgetting_max)
note "final average accuracy $acc, forgetting $fgt"
# Fine-tuning on class-incremental tasks learns each task, then forgets it:
row=$(last_row "$out/metrics.json")
note "after the last task: $row"
check "the last task is learned (above 80%)" awk -v r="$row" 'BEGIN { n = split(r, a, " "); exit !(n == 5 && a[n] > 0.8) }'
check "forgetting is large, as fine-tuning does" awk -v f="$fgt" 'BEGIN { exit !(f > 0.3) }'
finish
