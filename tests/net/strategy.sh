#!/usr/bin/env bash
# Online strategies with per-client state (replay buffers, MVP keys) give
# bit-identical results whether 4 logical clients live in 1 process or 4,
# and the run's events report the memory budget.
. "$(dirname "$0")/lib.sh"
base=$FCL_TESTS/scenarios/online-replay.yaml
run() { "$FCL_SIM" "$1" --quiet --run-dir "$work/$2" "${@:3}" >"$work/$2.out" 2>&1; }
for s in der++ mvp uer; do
	scn="$work/$s.yaml"
	sed "s/^  name: der++$/  name: $s/" "$base" >"$scn"
	[ "$s" = uer ] && sed -i 's/^  hidden: \[32, 16\]$/  hidden: [32, 16]\n  head_bias: false/' "$scn"
	check "$s: 1 process x 4 clients runs" run "$scn" "$s-one" --procs 1
	check "$s: 4 processes x 1 client runs" run "$scn" "$s-four" --procs 4
	check "$s: 1x4 and 4x1 give byte-identical metrics.json" \
		cmp -s "$work/$s-one/metrics.json" "$work/$s-four/metrics.json"
	note "$s: final_avg_acc $(json_field "$work/$s-one/metrics.json" final_avg_acc)," \
		"checksum $(json_field "$work/$s-one/metrics.json" params_checksum)"
done
# Client groups: clients 0-1 run MVP with replay and a backbone query, 2 UER,
# 3 GDumb (a bias-free head, which UER needs).
sed 's/^  memory: 100$/  memory: 100\n  groups:\n    - {clients: [0, 1], name: mvp, mvp: {query: backbone, warmup: 100}}\n    - {clients: [2, 2], name: uer, memory: 50}\n    - {clients: [3, 3], name: gdumb, epochs: 2}/' "$base" |
	sed 's/^  hidden: \[32, 16\]$/  hidden: [32, 16]\n  head_bias: false/' >"$work/groups.yaml"
check "groups: 1 process x 4 clients runs" run "$work/groups.yaml" groups-one --procs 1
check "groups: 4 processes x 1 client runs" run "$work/groups.yaml" groups-four --procs 4
check "groups: 1x4 and 4x1 give byte-identical metrics.json" \
	cmp -s "$work/groups-one/metrics.json" "$work/groups-four/metrics.json"
check "groups: events give each group's strategy and budget" \
	grep -q '"name":"uer","memory_samples":50,"bytes_per_sample":10,"memory_bytes":500,.*"clients":\[2,2\]' \
	"$work/groups-one/events.jsonl"
check "events report the strategy and its memory budget" \
	grep -q '"event":"strategy","name":"der++","memory_samples":100,"bytes_per_sample":50,"memory_bytes":5000,"mode":"online"' \
	"$work/der++-one/events.jsonl"
check "an mvp scenario without memory is written" \
	sed -i 's/^  memory: 100$/  memory: 0/' "$work/mvp.yaml"
check "mvp without memory runs" run "$work/mvp.yaml" mvp0 --procs 2
check "... and reports no buffer" grep -q '"name":"mvp","memory_samples":0,' "$work/mvp0/events.jsonl"
finish
