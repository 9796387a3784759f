#!/usr/bin/env bash
# A convolutional model (model.layers: conv2d, pools, flatten, dense) end to
# end: the same metrics.json whether its 5 clients live in 1 process or 3; the
# cnn preset runs with EWC and LwF (every strategy reaches all parameters);
# the server's peak memory stays under run.limits' estimate of it.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/cnn-small.yaml
check_layouts "$scn" "the CNN scenario"
# "Server peak memory X MiB (estimated Y MiB, ...)" in summary.md
peak=$(sed -n 's/.*Server peak memory \([0-9.]*\) MiB (estimated \([0-9.]*\) MiB.*/\1 \2/p' "$work/one/summary.md")
note "server peak memory and its estimate, MiB: $peak"
check "the server's peak memory is within its estimate" \
	awk -v p="${peak% *}" -v e="${peak#* }" 'BEGIN { exit !(p > 0 && p <= e) }'
for s in ewc lwf; do
	sed "s/name: er, memory: 40/name: $s/; s/^model:/model:\n  preset: cnn\nold_model:/" "$scn" |
		awk '/^old_model:/ { skip = 1; next } skip && /^  / { next } { skip = 0; print }' >"$work/$s.yaml"
	check "the cnn preset with $s runs" sim_run "$work/$s.yaml" "$s" --procs 2
	check "... and completes" grep -q '"complete": true' "$work/$s/metrics.json"
done
sed "s/name: er, memory: 40/name: finetune/; s/generator: class-incremental/generator: task-incremental/; s/^model:/model:\n  heads: per-task/" \
	"$scn" >"$work/til.yaml"
check "the CNN with per-task heads (task-incremental, fine-tuning) runs" sim_run "$work/til.yaml" til --procs 2
check "... and beats chance on its 5-way tasks" \
	awk -v a="$(json_field "$work/til/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.3) }'
finish
