#!/usr/bin/env bash
# Dropout between dense layers end to end: an MLP with dropout after each
# hidden layer gives byte-identical metrics.json whether its 5 clients live in
# 1 process or 3 (each step's masks come from (seed, client, round, step), not
# from the process), and the dropout acts: without it the model differs.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/mlp-dropout.yaml
check_layouts "$scn" "the MLP with dense dropout (UER)"
sed 's/rate: 0.5/rate: 0.0/; s/rate: 0.2/rate: 0.0/' "$scn" >"$work/nodrop.yaml"
check "the same MLP at rate 0 runs on 2 processes" sim_run "$work/nodrop.yaml" nodrop --procs 2
check "... and gives another global model: the masks act in training" \
	test "$(json_field "$work/nodrop/metrics.json" params_checksum)" != \
	"$(json_field "$work/one/metrics.json" params_checksum)"
finish
