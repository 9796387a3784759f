#!/usr/bin/env bash
# fcl-scenario check prints each shipped scenario's estimates (rounds, memory,
# run folder) and refuses scenarios past run.limits (issue 16); the estimates
# count the scenario's own model on its data (issue 11).
. "$FCL_TESTS/net/lib.sh"
for f in "$FCL_SCENARIOS"/*.yaml; do
	name=$(basename "$f" .yaml)
	# a scenario for CIFAR data not installed here: generated files stand in
	fmt=$(sed -n 's/^ *format: *\(cifar100\|cifar10\).*/\1/p' "$f" | head -n1)
	dir=$(sed -n 's/^ *path: *\([^ #]*\).*/\1/p' "$f" | head -n1)
	case $dir in /* | "") ;; *) dir=$(dirname "$f")/$dir ;; esac
	if [ -n "$fmt" ] && [ -n "$dir" ] && [ ! -d "$dir" ]; then
		"$FCL_GEN_DATA" -o "$work/$name-data" --format "$fmt" --classes "${fmt#cifar}" \
			--train 2000 --test 500 --seed 3 >/dev/null
		sed "s#^\( *path:\).*#\1 $work/$name-data#" "$f" >"$work/$name.yaml"
		f=$work/$name.yaml
	fi
	out=$("$FCL_SCENARIO" check "$f" 2>&1)
	check "$name passes check" test $? -eq 0
	note "$(printf '%s' "$out" | tail -1)"
	echo "$out" >"$work/$name.out"
	check "$name: estimates printed" \
		grep -Eq "estimates: [0-9]+ rounds, [0-9]+ parameters \([0-9.]+ M multiply-adds per sample\), peak memory [0-9.]+ MiB server and [0-9.]+ MiB client process .*run folder [0-9.]+ MiB" <<<"$out"
done
# the model each scenario names, not the default MLP's 235146 parameters
check "cnn-iid-fashion: the cnn preset's 215370 parameters, 3.02 M multiply-adds" \
	grep -q "215370 parameters (3.02 M" "$work/cnn-iid-fashion.out"
check "cifar100-si-blurry: resnet18-reduced's 1154240 parameters on 100 classes" \
	grep -q "1154240 parameters (54.68 M" "$work/cifar100-si-blurry.out"
check "cifar100-split-fot: alexnet-fot's 6708324 parameters, 22.97 M multiply-adds" \
	grep -q "6708324 parameters (22.97 M" "$work/cifar100-split-fot.out"
base="data: {dataset: fashion-mnist}
clients: {count: 10, per_round: 5}"
printf '%s\ntasks: {generator: class-incremental, count: 5, rounds_per_task: 1000000}\n' \
	"$base" >"$work/big.yaml"
check "a million rounds per task is refused (1.2 GB rounds.csv)" \
	sh -c "! '$FCL_SCENARIO' check '$work/big.yaml' 2>'$work/big.err'"
check "... naming run.limits.disk_mb" grep -q "raise run.limits.disk_mb" "$work/big.err"
printf '%s\ntasks: {generator: class-incremental, count: 5, rounds_per_task: 1000000}\nrun: {limits: {disk_mb: 4096}}\n' \
	"$base" >"$work/big-allowed.yaml"
check "... and allowed with run.limits.disk_mb: 4096" \
	sh -c "'$FCL_SCENARIO' check '$work/big-allowed.yaml' >'$work/big-allowed.out'"
finish
