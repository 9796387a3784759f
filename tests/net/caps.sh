#!/usr/bin/env bash
# Message caps come from the scenario's rule and model (issue 16): runs whose
# largest valid message exceeds the old cap (n_params * 4 + 4 MiB) complete.
# SCAFFOLD sends 2 x n_params floats in each update; FOT at sketch_columns 4
# sends a 784 x 3136 sketch (9.8 MB) for a model of 0.8 MB.
. "$(dirname "$0")/lib.sh"
base() { # base NAME HIDDEN RULE...: a small synthetic scenario of 784 inputs
	cat >"$work/$1.yaml" <<YAML
name: $1
seed: 7
data:
  dataset: synthetic
  synthetic: {train: 400, test: 200, dim: 784, classes: 10}
model: {hidden: $2}
clients: {count: 2, per_round: 2}
tasks: {generator: permuted, count: 2, rounds_per_task: 1}
train: {local_epochs: 1, batch_size: 50, lr: 0.05}
aggregation: {$3}
run: {round_timeout: 120, join_timeout: 60}
YAML
}
run() { "$FCL_SIM" "$work/$1.yaml" --quiet --procs 2 --run-dir "$work/$1" >"$work/$1.out" 2>&1; }
# params NAME: the model's parameters, from the server log
params() { sed -n 's/.*tasks x [0-9]* rounds, \([0-9]*\) parameters.*/\1/p' "$work/$1/server.log"; }
# old_cap NAME: the cap before issue 16
old_cap() { echo $(($(params "$1") * 4 + 4194304)); }

base scaffold "[1024, 1024]" "rule: scaffold"
check "SCAFFOLD with hidden [1024, 1024] completes" run scaffold
check "its metrics are complete" grep -q '"complete": true' "$work/scaffold/metrics.json"
check "no update was dropped" grep -q '"event":"done".*"bad_messages":0,' "$work/scaffold/events.jsonl"
up=$(sed -n 's/.*"event":"round","round":0,.*"bytes_up":\([0-9]*\),.*/\1/p' "$work/scaffold/events.jsonl")
note "parameters $(params scaffold); old cap $(old_cap scaffold) bytes; round 0: $up bytes up in 2 updates"
check "an update is larger than the old cap (so the old cap would have dropped it)" \
	test $((up / 2)) -gt "$(old_cap scaffold)"

base fot "[256]" "rule: fot, sketch_columns: 4"
check "FOT with sketch_columns 4 completes" run fot
check "its metrics are complete" grep -q '"complete": true' "$work/fot/metrics.json"
check "no sketch was dropped" grep -q '"event":"done".*"bad_messages":0,' "$work/fot/events.jsonl"
check "the bases grew from every participant's sketches" \
	sh -c "! awk -F, 'NR > 1 && \$9 != 2' '$work/fot/fot.csv' | grep -q ."
sketch=$((784 * 3136 * 4))
note "parameters $(params fot); old cap $(old_cap fot) bytes; the input layer's sketch $sketch bytes"
check "the input layer's sketch is larger than the old cap" test "$sketch" -gt "$(old_cap fot)"
finish
