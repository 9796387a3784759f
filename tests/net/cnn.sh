#!/usr/bin/env bash
# A convolutional model (model.layers: conv2d, pools, flatten, dense) end to
# end: the same metrics.json whether its 5 clients live in 1 process or 3; the
# cnn preset runs with EWC and LwF (every strategy reaches all parameters).
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/cnn-small.yaml
run() { "$FCL_SIM" "$1" --quiet --run-dir "$work/$2" "${@:3}" >"$work/$2.out" 2>&1; }

check "the CNN scenario runs on 1 process" run "$scn" one --procs 1
check "the CNN scenario runs on 3 processes" run "$scn" three --procs 3
for r in one three; do
	[ -s "$work/$r/metrics.json" ] || cat "$work/$r.out" "$work/$r"/*.log 2>/dev/null | tail -n 30 | sed 's/^/# /'
done
note "checksums: 1 process $(json_field "$work/one/metrics.json" params_checksum)," \
	"3 processes $(json_field "$work/three/metrics.json" params_checksum)"
check "metrics.json is complete" grep -q '"complete": true' "$work/one/metrics.json"
check "1 and 3 processes give byte-identical metrics.json" \
	cmp -s "$work/one/metrics.json" "$work/three/metrics.json"
check "eval.csv is identical across layouts" cmp -s "$work/one/eval.csv" "$work/three/eval.csv"
check "the CNN learned something (final accuracy above chance)" \
	awk -v a="$(json_field "$work/one/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.2) }'
for s in ewc lwf; do
	sed "s/name: er, memory: 40/name: $s/; s/^model:/model:\n  preset: cnn\nold_model:/" "$scn" |
		awk '/^old_model:/ { skip = 1; next } skip && /^  / { next } { skip = 0; print }' >"$work/$s.yaml"
	check "the cnn preset with $s runs" run "$work/$s.yaml" "$s" --procs 2
	check "... and completes" grep -q '"complete": true' "$work/$s/metrics.json"
done
sed "s/name: er, memory: 40/name: finetune/; s/generator: class-incremental/generator: task-incremental/; s/^model:/model:\n  heads: per-task/" \
	"$scn" >"$work/til.yaml"
check "the CNN with per-task heads (task-incremental, fine-tuning) runs" run "$work/til.yaml" til --procs 2
check "... and beats chance on its 5-way tasks" \
	awk -v a="$(json_field "$work/til/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.3) }'
finish
