#!/usr/bin/env bash
# Every aggregation rule and every client strategy survives a crash: a
# 40-round run (tests/scenarios/resume.yaml, shortened, checkpoints every 3
# rounds) has its coordinator killed with SIGKILL at a random round between
# 8 and 30, is resumed with another number of client processes, and must end
# with the metrics.json and eval.csv of the same run left alone. State a
# method keeps across rounds but not in its checkpoint shows here. A method
# added to the registry should get its line below.
. "$(dirname "$0")/../net/lib.sh"
export OPENBLAS_NUM_THREADS=1
seed=${FCL_RESUME_SEED:-$(($(date +%s) % 100000))}
RANDOM=$seed
note "kill rounds drawn with FCL_RESUME_SEED=$seed"
trap 'pkill -9 -f -- "--run-dir $work/" 2>/dev/null; rm -rf "$work"' EXIT
# one strategy for every client: the scenario without its strategy groups
sed '/^  groups:/,/name: mvp}/d' "$FCL_TESTS/scenarios/resume.yaml" >"$work/one.yaml"
short=(--server-arg=--set=tasks.rounds_per_task=10 --server-arg=--set=run.checkpoint.every_rounds=3)

# run NAME SETTINGS...: reference, then killed and resumed; compares
run() {
	local name=$1 d=$work/$1 r=$((8 + RANDOM % 23)) args=() a
	shift
	for a in "$@"; do args+=("--server-arg=--set=$a"); done
	"$FCL_SIM" "$work/one.yaml" --quiet --procs 2 --run-dir "$d-ref" "${short[@]}" "${args[@]}" \
		>"$d-ref.out" 2>&1
	"$FCL_SIM" "$work/one.yaml" --quiet --procs 2 --run-dir "$d" "${short[@]}" "${args[@]}" \
		--client-arg=--round-delay=0.02 >"$d.out" 2>&1 &
	local pid=$!
	for _ in $(seq 600); do
		grep -q "\"event\":\"round\",\"round\":$r," "$d/events.jsonl" 2>/dev/null && break
		sleep 0.05
	done
	kill -9 "$(pgrep -f -- "fcl-server.*--run-dir $d " | head -n1)" 2>/dev/null
	wait $pid
	"$FCL_SIM" --resume "$d" --quiet --procs 3 >>"$d.out" 2>&1
	check "$name: killed at round $r and resumed, the results of the run left alone ($(json_field "$d-ref/metrics.json" params_checksum))" \
		test -n "$(grep '"complete": true' "$d/metrics.json")" -a \
		-n "$(grep '"event":"resumed"' "$d/events.jsonl")" -a \
		"$(cat "$d/metrics.json" "$d/eval.csv" | sha256sum)" = \
		"$(cat "$d-ref/metrics.json" "$d-ref/eval.csv" | sha256sum)"
}

# the rules (ER clients)
run fedavg aggregation.rule=fedavg
run fedprox aggregation.rule=fedprox aggregation.mu=0.05
run fedavgm aggregation.rule=fedavgm
run fedadam aggregation.rule=fedadam aggregation.server_lr=0.01
run fedyogi aggregation.rule=fedyogi aggregation.server_lr=0.01
run fednova aggregation.rule=fednova
run median aggregation.rule=median
run trimmed-mean aggregation.rule=trimmed-mean aggregation.trim=0.2
run krum aggregation.rule=krum aggregation.byzantine=1
run scaffold aggregation.rule=scaffold
run fot aggregation.rule=fot
# the strategies (FedAvg)
run finetune strategy.name=finetune
run er-wa strategy.name=er strategy.wa=true
run er-ace strategy.name=er-ace
run derpp strategy.name=der++
run lwf strategy.name=lwf
run ewc strategy.name=ewc
run uer strategy.name=uer model.head_bias=false
run mvp strategy.name=mvp
run mvp-backbone strategy.name=mvp strategy.mvp.query=backbone strategy.mvp.warmup=50
run gdumb strategy.name=gdumb strategy.epochs=2
finish
