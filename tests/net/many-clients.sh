#!/usr/bin/env bash
# 200,000 registered logical clients, 20 per round: the run completes on any
# layout with the same results, and the run folder keeps per-client records of
# the clients that trained only.
. "$(dirname "$0")/lib.sh"
cat >"$work/many.yaml" <<YAML
name: many
seed: 7
data:
  dataset: synthetic
  synthetic: {train: 400000, test: 500, dim: 4, classes: 4}
model: {hidden: [8]}
clients: {count: 200000, per_round: 20}
tasks: {generator: class-incremental, count: 2, classes_per_task: 2, rounds_per_task: 3}
train: {batch_size: 2, lr: 0.05}
run: {round_timeout: 300, join_timeout: 120}
YAML
run() { "$FCL_SIM" "$work/many.yaml" --quiet --run-dir "$work/$1" "${@:2}" >"$work/$1.out" 2>&1; }
check "200,000 clients on 1 process: the run completes" run one --procs 1
check "200,000 clients on 2 processes: the run completes" \
	run two --procs 2
check "metrics.json identical across layouts" cmp -s "$work/one/metrics.json" "$work/two/metrics.json"
check "eval.csv identical across layouts" cmp -s "$work/one/eval.csv" "$work/two/eval.csv"
check "the run folder's schedule/ keeps tasks.csv only" \
	test "$(ls "$work/two/schedule")" = "tasks.csv"
trained() { # the clients listed in the traffic line: those that sent updates (<= 6 x 20)
	local n
	n=$(grep '"event":"traffic"' "$work/two/events.jsonl" |
		sed -n 's/.*"client_ids":\[\([0-9,]*\)\].*/\1/p' | tr ',' '\n' | grep -c .)
	note "traffic line lists $n clients"
	[ "$n" -gt 0 ] && [ "$n" -le 120 ]
}
check "events.jsonl's traffic line lists only the clients that trained" trained
check "summary.md says its client table lists those that sent updates" \
	grep -q 'clients are registered: the table lists those that sent updates' "$work/two/summary.md"
finish
