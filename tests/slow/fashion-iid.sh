#!/usr/bin/env bash
# FedAvg on IID Fashion-MNIST reaches at least 85% test accuracy; deterministic.
. "$(dirname "$0")/../net/lib.sh"
"$FCL_SIM" "$FCL_SCENARIOS/fashion-iid.yaml" --quiet --procs 2 --run-dir "$work/iid" >"$work/iid.out" 2>&1; rc=$?
check "fashion-iid runs" test "$rc" -eq 0
acc=$(json_field "$work/iid/metrics.json" final_avg_acc)
note "fashion-iid test accuracy: $acc"
check "test accuracy at least 85% (got $acc)" awk -v a="$acc" 'BEGIN { exit !(a >= 0.85) }'
finish
