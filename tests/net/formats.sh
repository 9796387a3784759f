#!/usr/bin/env bash
# Data formats end to end, from files generated here: a CIFAR-100-format and a
# 100-class float32 .npy scenario (normalised, crops and flips of the stream and
# replay samples) run under fcl-sim with 1 and 3 client processes and give
# byte-identical metrics.json and eval.csv; the exported
# final model reads back (a C reader) to the run's parameter checksum. A
# corrupt label (one byte set to 255, issue 16) makes `fcl-scenario check`
# and the run fail naming the file and record, instead of a "256-class" run.
. "$(dirname "$0")/lib.sh"
q() { "$@" >>"$work/stdout.txt" 2>&1; }

check "fcl-gen-data writes a CIFAR-100 folder" q "$FCL_GEN_DATA" -o "$work/c100" \
	--format cifar100 --classes 100 --train 2000 --test 500 --seed 3
check "fcl-gen-data writes a float32 .npy folder" q "$FCL_GEN_DATA" -o "$work/npy" \
	--format npy --classes 100 --train 2000 --test 500 --shape 3x16x16 --float --seed 4

cat >"$work/c100.yaml" <<YAML
name: cifar100-format
seed: 5
data: {format: cifar100, path: $work/c100, augment: crop-flip,
       mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762]}
model: {hidden: [32]}
clients: {count: 6, per_round: 4}
tasks: {generator: class-incremental, count: 5, rounds_per_task: 2}
train: {batch_size: 16, lr: 0.05}
evaluation: {every_rounds: 1}
run: {export: task-ends, round_timeout: 60, join_timeout: 30}
YAML
cat >"$work/npy.yaml" <<YAML
name: npy-si-blurry
seed: 6
data: {format: npy, path: $work/npy, augment: crop-flip}
model: {hidden: [32], head_bias: false}
clients: {count: 3}
tasks: {generator: si-blurry, count: 5, disjoint_pct: 50, blurry_pct: 10, rounds_per_task: 2}
timeline: {stream: online}
train: {mode: online, stream_batch: 10, replay_batch: 10, lr: 0.05}
strategy: {name: er, memory: 200}
run: {round_timeout: 60, join_timeout: 30}
YAML

for s in c100 npy; do
	check "$s: fcl-scenario check loads the data" q "$FCL_SCENARIO" check "$work/$s.yaml"
	check "$s: 1 client process" q "$FCL_SIM" "$work/$s.yaml" --quiet --procs 1 --run-dir "$work/$s-p1"
	check "$s: 3 client processes" q "$FCL_SIM" "$work/$s.yaml" --quiet --procs 3 --run-dir "$work/$s-p3"
	check "$s: the run is complete" grep -q '"complete": true' "$work/$s-p1/metrics.json"
	check "$s: --procs 1 and 3 give byte-identical metrics.json" \
		cmp -s "$work/$s-p1/metrics.json" "$work/$s-p3/metrics.json"
	check "$s: and eval.csv" cmp -s "$work/$s-p1/eval.csv" "$work/$s-p3/eval.csv"
	sum=$(json_field "$work/$s-p1/metrics.json" params_checksum)
	note "$s: params_checksum $sum, final_avg_acc $(json_field "$work/$s-p1/metrics.json" final_avg_acc)"
	check "$s: the exported final model reads back to the checksum" \
		q "$FCL_TEST_EXPORT" "$work/$s-p1/model/final" "$sum"
done
check "c100: 100 classes were seen (eval_class.csv has class 99)" \
	grep -q '^[0-9]*,global,99,' "$work/c100-p1/eval_class.csv"
check "c100: run.export: task-ends wrote model/task-0 .. task-4" \
	test -s "$work/c100-p1/model/task-0/manifest.json" -a -s "$work/c100-p1/model/task-4/dense1.weight.npy"
# The pixels and labels arrive intact: one IID task on the same files learns.
cat >"$work/iid.yaml" <<YAML
name: cifar100-format-iid
seed: 5
data: {format: cifar100, path: $work/c100}
model: {hidden: [32]}
clients: {count: 2}
tasks: {generator: single, rounds_per_task: 5}
train: {batch_size: 16, lr: 0.005, local_epochs: 2}
YAML
check "c100, one IID task: runs" q "$FCL_SIM" "$work/iid.yaml" --quiet --procs 2 --run-dir "$work/iid"
acc=$(json_field "$work/iid/metrics.json" final_avg_acc)
note "c100, one IID task: final accuracy $acc over 100 classes"
check "c100, one IID task: learned (final accuracy above 20%, chance 1%)" \
	awk -v a="$acc" 'BEGIN { exit !(a > 0.2) }'

# One label byte set to 255 in the test split, as in issue 16's reproduction.
printf '\377' | dd of="$work/c100/test.bin" bs=1 seek=$((3074 * 17 + 1)) conv=notrunc 2>/dev/null
"$FCL_SCENARIO" check "$work/c100.yaml" >"$work/check.out" 2>&1
rc=$?
check "a corrupt label: fcl-scenario check fails" test "$rc" -ne 0
check "  naming data.path, the file and the record" \
	grep -q 'data.path: .*c100/test.bin: record 17 has label 255, outside the 100 classes' "$work/check.out"
"$FCL_SIM" "$work/c100.yaml" --quiet --procs 1 --run-dir "$work/bad" >"$work/bad.out" 2>&1
rc=$?
check "a corrupt label: the run fails instead of running on 256 classes" test "$rc" -ne 0
check "  and says why" grep -rqs 'test.bin: record 17 has label 255' "$work/bad.out" "$work/bad"
# A truncated npy file is refused by check too.
head -c 1000 "$work/npy/X_test.npy" >"$work/npy/X_test.cut" && mv "$work/npy/X_test.cut" "$work/npy/X_test.npy"
"$FCL_SCENARIO" check "$work/npy.yaml" >"$work/check2.out" 2>&1
check "a truncated X_test.npy: fcl-scenario check fails naming it" \
	grep -q 'data.path: .*X_test.npy: .*truncated' "$work/check2.out"
[ "$failed" -eq 0 ] || sed 's/^/# /' "$work/stdout.txt" | tail -n 40
finish
