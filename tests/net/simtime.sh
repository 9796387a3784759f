#!/usr/bin/env bash
# Simulated time: the clock alone orders the updates, so the process layout and
# how fast each process really runs change nothing. FedBuff in 1 and 3
# processes, and with one process sleeping before every training, give
# byte-identical metrics.json; so do FedAsync and a sync round with a deadline
# and kept stragglers. Device profiles without a deadline change no result of
# a synchronous run.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/simtime.yaml
run() { "$FCL_SIM" "$scn" --quiet --run-dir "$work/$1" "${@:2}" >"$work/$1.out" 2>&1; }
set_() { printf -- '--server-arg=--set=%s\n' "$@"; }
same() { cmp -s "$work/$1/metrics.json" "$work/$2/metrics.json" && cmp -s "$work/$1/eval.csv" "$work/$2/eval.csv"; }
# the compute seconds client 2 reported over the run (events.jsonl's traffic line)
train_s() { sed -n 's/.*"client_train_seconds":\[\([^]]*\)\].*/\1/p' "$work/$1/events.jsonl" | tail -n1 | cut -d, -f3; }

buf=(aggregation.mode=async aggregation.async.buffer=3 aggregation.async.concurrency=4)
check "FedBuff in 1 process runs" run buf1 --procs 1 $(set_ "${buf[@]}")
check "FedBuff in 3 processes runs" run buf3 --procs 3 $(set_ "${buf[@]}")
check "FedBuff in 3 processes, client 2 sleeping 0.3 s before each job, runs" \
	run slow --procs 3 --client-arg=--fault=slow:0.3:2 $(set_ "${buf[@]}")
for r in buf1 buf3 slow; do
	[ -s "$work/$r/metrics.json" ] || tail -n 20 "$work/$r.out" | sed 's/^/# /'
done
check "metrics.json is complete" grep -q '"complete": true' "$work/buf1/metrics.json"
check "... and says how much simulated time passed" grep -q '"simulated_seconds": ' "$work/buf1/metrics.json"
check "1 and 3 processes: byte-identical metrics.json and eval.csv" same buf1 buf3
check "a slow process: byte-identical metrics.json and eval.csv" same buf1 slow
note "client 2's training: $(train_s buf3) s, with the sleep $(train_s slow) s"
check "... although client 2 really took longer" \
	awk -v a="$(train_s buf3)" -v b="$(train_s slow)" 'BEGIN { exit !(b > a + 0.3) }'
check "eval.csv has the sim_time column" grep -q '^round,model,task,accuracy,sim_time$' "$work/buf1/eval.csv"

fa=(aggregation.mode=async aggregation.async.method=fedasync aggregation.async.concurrency=4)
check "FedAsync in 1 process runs" run asy1 --procs 1 $(set_ "${fa[@]}")
check "FedAsync in 2 processes runs" run asy2 --procs 2 $(set_ "${fa[@]}")
check "FedAsync: byte-identical across layouts" same asy1 asy2

dl=(aggregation.deadline=1 aggregation.stragglers=keep)
check "sync with a deadline and kept stragglers in 1 process runs" run dl1 --procs 1 $(set_ "${dl[@]}")
check "... in 3 processes runs" run dl3 --procs 3 $(set_ "${dl[@]}")
check "sync with a deadline: byte-identical across layouts" same dl1 dl3
check "... and some updates came late" grep -q '"late":\[[0-9]' "$work/dl1/events.jsonl"

compare() {
	"$(dirname "$FCL_SIM")/fcl-compare" "$scn" --rules fedavg --procs 2 --out "$work/cmp" \
		--variant sync:aggregation.mode=sync --variant buf:aggregation.mode=async \
		--variant buf:aggregation.async.buffer=3 --target 0.5 >"$work/cmp.out" 2>&1
}
check "fcl-compare crosses the rule with two variants (sync, FedBuff)" compare
check "... one row each, with simulated seconds and the time to 50% on task 0" \
	test "$(grep -c '^fedavg,[^,]*,\(sync\|buf\),5,1,.*,[0-9.]*,[0-9.]*$' "$work/cmp/compare.csv")" -eq 2
scn=$work/cmp/fedavg-buf-seed5.yaml check "the FedBuff variant's derived scenario runs alone" \
	run alone-buf --procs 1
check "... and gives a byte-identical metrics.json" \
	cmp -s "$work/alone-buf/metrics.json" "$work/cmp/fedavg-buf-seed5/metrics.json"

sed '/^devices:/,$d' "$scn" >"$work/plain.yaml"
check "sync with device profiles, no deadline, runs" run dev --procs 2
scn=$work/plain.yaml check "the same without a devices section runs" run plain --procs 2
check "device profiles without a deadline change no result" \
	cmp -s <(grep -v simulated_seconds "$work/dev/metrics.json") "$work/plain/metrics.json"
finish
