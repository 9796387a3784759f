#!/usr/bin/env bash
# Partial sums (fcl/fixsum.h): for rules that need only the weighted sum of
# the updates each client process sends one fixed-point partial sum per round,
# and metrics.json and eval.csv are byte-identical whether 10 logical clients
# live in 1, 2 or 5 processes. Rules that need each update (median) still send
# one per client; SCAFFOLD (per-update extras) too, its sums in fixed point.
# A faulty client's scaled update still reaches the sum. FOT's sketches travel
# as one fixed-point sum per process per task end too: metrics.json, eval.csv
# and fot.csv (but for its two traffic columns, whose bytes depend on the
# number of processes by nature) are byte-identical in 1, 2 and 5 processes,
# and equal to a run whose sketches travel one by one.
. "$(dirname "$0")/lib.sh"
base=$FCL_TESTS/scenarios/partial.yaml
scn() { # scn NAME RULE [extra aggregation keys]: a copy of the scenario with that rule
	sed "s/^  rule: fedavg$/  rule: $2${3:+\\n  $3}/" "$base" >"$work/$1.yaml"
}
run() { # run NAME SCENARIO PROCS [fcl-sim args]
	"$FCL_SIM" "$work/$2.yaml" --quiet --procs "$3" --run-dir "$work/$1" "${@:4}" >"$work/$1.out" 2>&1 ||
		{ tail -n 20 "$work/$1.out" "$work/$1"/*.log 2>/dev/null | sed 's/^/# /'; return 1; }
}
same() { cmp -s "$work/$1/metrics.json" "$work/$2/metrics.json" && cmp -s "$work/$1/eval.csv" "$work/$2/eval.csv"; }
# bytes up of round 0 (every participant's message)
up() { sed -n 's/.*"event":"round","round":0,.*"bytes_up":\([0-9]*\).*/\1/p' "$work/$1/events.jsonl"; }
params() { json_field "$work/$1/metrics.json" n_params; }

scn fedavg fedavg
scn fednova fednova
scn median median
scn scaffold scaffold
for p in 1 2 5; do
	check "fedavg in $p processes completes" run "fedavg$p" fedavg $p
done
check "fedavg: 1 and 2 processes give byte-identical results" same fedavg1 fedavg2
check "fedavg: 1 and 5 processes give byte-identical results" same fedavg1 fedavg5
check "fedavg learned something" awk -v a="$(json_field "$work/fedavg1/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.3) }'
P=$(sed -n 's/.*"n_params":\([0-9]*\).*/\1/p' "$work/fedavg1/events.jsonl" | head -n1)
note "parameters $P; round 0 bytes up: 1 process $(up fedavg1), 2: $(up fedavg2), 5: $(up fedavg5)"
# one partial per process: 8 bytes per parameter plus small records
check "1 process sends one partial sum per round (8 bytes a parameter)" \
	awk -v b="$(up fedavg1)" -v p="$P" 'BEGIN { exit !(b >= 8 * p && b < 8 * p + 4096) }'
check "2 processes send two" awk -v b="$(up fedavg2)" -v p="$P" 'BEGIN { exit !(b >= 16 * p && b < 16 * p + 8192) }'

for p in 1 5; do
	check "fednova in $p processes completes" run "fednova$p" fednova $p
	check "median in $p processes completes" run "median$p" median $p
	check "scaffold in $p processes completes" run "scaffold$p" scaffold $p
done
check "fednova: 1 and 5 processes give byte-identical results" same fednova1 fednova5
check "fednova differs from fedavg on unequal clients" test "$(json_field "$work/fednova1/metrics.json" params_checksum)" != "$(json_field "$work/fedavg1/metrics.json" params_checksum)"
check "median: 1 and 5 processes give byte-identical results" same median1 median5
check "median still gets one update per participant (7 x 4 bytes a parameter)" \
	awk -v b="$(up median1)" -v p="$P" 'BEGIN { exit !(b >= 28 * p && b < 28 * p + 8192) }'
check "scaffold: 1 and 5 processes give byte-identical results" same scaffold1 scaffold5

# A scaled client still counts: its update reaches the sum in every layout.
check "fedavg with client 3 scaled by 3, 1 process" run scale1 fedavg 1 --client-arg=--fault=scale:3:3
check "the same in 5 processes" run scale5 fedavg 5 --client-arg=--fault=scale:3:3
check "the scaled update changed the result" test "$(json_field "$work/scale1/metrics.json" params_checksum)" != "$(json_field "$work/fedavg1/metrics.json" params_checksum)"
check "scaled: 1 and 5 processes give byte-identical results" same scale1 scale5
check "fedavg with a scale of 1 is the clean run" run unit1 fedavg 2 --client-arg=--fault=scale:1:3
check "... byte for byte" same unit1 fedavg1
# FOT: each process sends one sum of its participants' sketches per task end.
scn fot fot
for p in 1 2 5; do
	check "fot in $p processes completes" run "fot$p" fot $p
done
# fot.csv without sketch_bytes_up and request_bytes_down (columns 10, 11)
fotcsv() { cut -d, -f1-9,12 "$work/$1/fot.csv"; }
samefot() { same "$1" "$2" && cmp -s <(fotcsv "$1") <(fotcsv "$2"); }
check "fot: 1 and 2 processes give byte-identical metrics.json, eval.csv, fot.csv" samefot fot1 fot2
check "fot: 1 and 5 processes give byte-identical metrics.json, eval.csv, fot.csv" samefot fot1 fot5
check "fot: two task ends, bases grown from all 7 participants' sketches" \
	awk -F, 'NR > 1 { rows++; if ($9 != 7 || $7 < 1) bad = 1 } END { exit bad || rows != 4 }' "$work/fot1/fot.csv"
# layers 784 x 784 and 64 x 64 (c = d), 3 more values each: 8 bytes a value per process
L=$((784 * 784 + 64 * 64 + 6))
sk() { sed -n 2p "$work/$1/fot.csv" | cut -d, -f10; }
note "sketch bytes up at task 0's end: 1 process $(sk fot1), 2: $(sk fot2), 5: $(sk fot5) (one sum: $((8 * L)) B)"
check "1 process sends one sum of sketches per task end (8 bytes a value)" \
	awk -v b="$(sk fot1)" -v l="$L" 'BEGIN { exit !(b >= 8 * l && b < 8 * l + 4096) }'
check "2 processes send two" awk -v b="$(sk fot2)" -v l="$L" 'BEGIN { exit !(b >= 16 * l && b < 16 * l + 8192) }'
check "fot with each sketch sent alone (evaluation.local_models) completes" \
	run fotone fot 2 --server-arg=--set=evaluation.local_models=true
samebases() { cmp -s <(fotcsv "$1") <(fotcsv "$2"); }
check "... and grows the same bases" samebases fot1 fotone
check "... the same parameters" test "$(json_field "$work/fotone/metrics.json" params_checksum)" = "$(json_field "$work/fot1/metrics.json" params_checksum)"
check "fot with NaN sketches from client 3 completes" run fotnan fot 2 --client-arg=--fault=rule-nan:3
check "its process kept them out of its sum and the server says so" \
	grep -q "fot message from client 3 in round [0-9]* rejected by its process: non-finite values" "$work/fotnan/server.log"
check "the other participants' sketches still grow the bases" \
	awk -F, 'NR > 1 && $9 == 6 && $8 > 0 { ok = 1 } END { exit !ok }' "$work/fotnan/fot.csv"

# A NaN update is refused by its own process and named in the server's log.
check "fedavg with NaN updates from client 3 completes" run nan fedavg 2 --client-arg=--fault=nan:3
check "its process kept it out and the server says so" \
	grep -q "update from client 3 in round [0-9]* rejected by its process: non-finite values" "$work/nan/server.log"
finish
