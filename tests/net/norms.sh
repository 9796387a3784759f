#!/usr/bin/env bash
# Normalisation layers (issue 11) end to end: a small CNN with batchnorm,
# groupnorm and dropout under model.batchnorm: local (FedBN) gives
# byte-identical metrics.json whether its 5 clients live in 1 process or 3
# (each client's own batchnorm values and dropout masks do not depend on the
# process that trains it); the fedavg policy runs and gives another model.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/cnn-bn.yaml
run() { "$FCL_SIM" "$1" --quiet --run-dir "$work/$2" "${@:3}" >"$work/$2.out" 2>&1; }

check "the batchnorm CNN (local) runs on 1 process" run "$scn" one --procs 1
check "the batchnorm CNN (local) runs on 3 processes" run "$scn" three --procs 3
for r in one three; do
	[ -s "$work/$r/metrics.json" ] || cat "$work/$r.out" "$work/$r"/*.log 2>/dev/null | tail -n 30 | sed 's/^/# /'
done
note "checksums: 1 process $(json_field "$work/one/metrics.json" params_checksum)," \
	"3 processes $(json_field "$work/three/metrics.json" params_checksum)"
check "metrics.json is complete" grep -q '"complete": true' "$work/one/metrics.json"
check "1 and 3 processes give byte-identical metrics.json" \
	cmp -s "$work/one/metrics.json" "$work/three/metrics.json"
check "eval.csv is identical across layouts" cmp -s "$work/one/eval.csv" "$work/three/eval.csv"
check "the model learned something (final accuracy above chance)" \
	awk -v a="$(json_field "$work/one/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.2) }'
sed 's/batchnorm: local/batchnorm: fedavg/' "$scn" >"$work/fedavg.yaml"
check "the fedavg policy runs on 2 processes" run "$work/fedavg.yaml" fedavg --procs 2
check "... completes" grep -q '"complete": true' "$work/fedavg/metrics.json"
check "... and gives another global model than local" \
	test "$(json_field "$work/fedavg/metrics.json" params_checksum)" != \
	"$(json_field "$work/one/metrics.json" params_checksum)"
finish
