#!/usr/bin/env bash
# Normalisation layers (issue 11) end to end: a small CNN with batchnorm,
# groupnorm and dropout under model.batchnorm: local (FedBN) gives
# byte-identical metrics.json whether its 5 clients live in 1 process or 3
# (each client's own batchnorm values and dropout masks do not depend on the
# process that trains it); the fedavg policy runs and gives another model.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/cnn-bn.yaml
check_layouts "$scn" "the batchnorm CNN (local)"
sed 's/batchnorm: local/batchnorm: fedavg/' "$scn" >"$work/fedavg.yaml"
check "the fedavg policy runs on 2 processes" sim_run "$work/fedavg.yaml" fedavg --procs 2
check "... completes" grep -q '"complete": true' "$work/fedavg/metrics.json"
check "... and gives another global model than local" \
	test "$(json_field "$work/fedavg/metrics.json" params_checksum)" != \
	"$(json_field "$work/one/metrics.json" params_checksum)"
finish
