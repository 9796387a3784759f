#!/usr/bin/env bash
# Robust rules: with 2 of 10 clients sending scaled (x -4) or sign-flipped updates,
# median, trimmed mean and Krum stay within 3 points of their clean runs and of the
# clean FedAvg run; FedAvg degrades under both attacks.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/robust.yaml
acc() { # acc RULE NAME [FAULT]
	local extra=()
	[ -n "${3:-}" ] && extra=(--client-arg="--fault=$3")
	sed "s/rule: fedavg/rule: $1/" "$scn" >"$work/$2.yaml"
	"$FCL_SIM" "$work/$2.yaml" --quiet --procs 2 --run-dir "$work/$2" "${extra[@]}" \
		>"$work/$2.out" 2>&1 || { tail -n 5 "$work/$2.out" | sed 's/^/# /'; echo 0; return; }
	json_field "$work/$2/metrics.json" final_avg_acc
}
within() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { exit !(a >= b - d) }'; }
declare -A own
for rule in fedavg median trimmed-mean krum; do
	own[$rule]=$(acc $rule "$rule-clean")
	note "clean $rule: ${own[$rule]}"
done
clean=${own[fedavg]}
check "the clean run learns (accuracy > 0.5)" within "$clean" 0.5 0
degraded() { ! within "$1" "$2" 0.03; }
for fault in scale:-4:0-1 sign-flip:0-1; do
	for rule in fedavg median trimmed-mean krum; do
		a=$(acc $rule "$rule-${fault%%:*}" "$fault")
		note "$fault $rule: $a"
		if [ $rule = fedavg ]; then
			check "fedavg degrades under $fault ($a vs clean $clean)" degraded "$a" "$clean"
		else
			check "$rule within 3 points of its clean run under $fault ($a vs ${own[$rule]})" \
				within "$a" "${own[$rule]}" 0.03
			check "$rule within 3 points of clean fedavg under $fault ($a vs $clean)" \
				within "$a" "$clean" 0.03
		fi
	done
done
finish
