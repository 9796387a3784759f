#!/usr/bin/env bash
# A client that sends a wrong-sized update, non-finite values, batchnorm values
# of the wrong length (FedBN), or garbage bytes is logged and dropped; the
# round still completes with the others.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/bad-input.yaml
run() { "$FCL_SIM" "$scn" --quiet --procs 2 --run-dir "$work/$1" "${@:2}" >"$work/$1.out" 2>&1; }
rounds_with() { grep -c "\"event\":\"round\".*$2" "$work/$1/events.jsonl"; }

check "clean run completes" run clean
check "run with a wrong-sized update from client 2 completes" run size --client-arg=--fault=wrong-size:2
check "every round rejected exactly one update" test "$(rounds_with size '"accepted":3,"rejected":1')" -eq 4
check "the server log names the reason" grep -q "wrong number of parameters" "$work/size/server.log"
check "the metrics are complete" grep -q '"complete": true' "$work/size/metrics.json"

check "run with NaN updates from client 1 completes" run nan --client-arg=--fault=nan:1
check "every round rejected the NaN update" test "$(rounds_with nan '"accepted":3,"rejected":1')" -eq 4
check "the server log says non-finite" grep -q "non-finite values" "$work/nan/server.log"

check "run where every process also sends garbage bytes completes" run garbage --client-arg=--fault=garbage
check "all updates were still accepted" test "$(rounds_with garbage '"accepted":4,"rejected":0')" -eq 4
check "garbage was counted (2 processes x 4 rounds)" grep -q '"event":"done".*"bad_messages":8' "$work/garbage/events.jsonl"
check "the garbage run learned exactly what the clean run did" cmp -s "$work/clean/metrics.json" "$work/garbage/metrics.json"

# FedBN (tests/scenarios/cnn-bn.yaml: batchnorm local, local models): client 2's
# updates carry one batchnorm value too few
check "run with short batchnorm values from client 2 completes" \
	sim_run "$FCL_TESTS/scenarios/cnn-bn.yaml" bn --procs 2 --client-arg=--fault=bn-size:2
bn_drops=$(grep -c "client 2 in round [0-9]* rejected: wrong number of batchnorm values" "$work/bn/server.log")
bn_rejected=$(awk -F'"rejected":' '/"event":"round"/ { split($2, a, /[,}]/); s += a[1] } END { print s + 0 }' "$work/bn/events.jsonl")
note "client 2's updates rejected: $bn_drops (events.jsonl: $bn_rejected)"
check "each of client 2's updates is rejected, logged and counted" \
	test "$bn_drops" -ge 1 -a "$bn_drops" = "$bn_rejected"
check "the metrics are complete" grep -q '"complete": true' "$work/bn/metrics.json"
check "FedBN's record has the other 4 clients only" test "$(json_field "$work/bn/metrics.json" fedbn_clients)" = 4

bad=$FCL_TESTS/scenarios/bad/01-unknown-top-key.yaml
"$FCL_SIM" "$bad" --quiet --run-dir "$work/never" >"$work/bad.out" 2>&1; rc=$?
note "$(head -n1 "$work/bad.out")"
check "fcl-sim refuses a malformed scenario with exit 2" test "$rc" -eq 2
check "the error names file:line:col and the key" grep -Eq "01-unknown-top-key.yaml:[0-9]+:[0-9]+: epochs: unknown key" "$work/bad.out"
check "nothing ran for it" test ! -e "$work/never/metrics.json"
finish
