#!/usr/bin/env bash
# scenarios/si-blurry-dirichlet-uer.yaml (20 clients, Si-Blurry, Dirichlet 0.3,
# UER with 200 samples) with seeds 1-4: seed 1 leaves task 3 with no samples,
# seeds 3 and 4 leave task 0 without test samples. fcl-scenario check warns about
# them, the run says so, and final_avg_acc is the mean of the last row over the
# tasks with test samples only (docs/metrics.md). The runs take 5 rounds per task
# instead of 20 (the same one pass over the same streams, a quarter of the model
# exchanges): which tasks are empty does not depend on it.
. "$FCL_TESTS/net/lib.sh"
f=$FCL_SCENARIOS/si-blurry-dirichlet-uer.yaml
# want_empty SEED: the tasks left without test samples by that seed
want_empty() { case $1 in 1) echo 3 ;; 3 | 4) echo 0 ;; *) echo "" ;; esac; }
for seed in 1 2 3 4; do
	empty=$(want_empty "$seed")
	"$FCL_SCENARIO" check --seed "$seed" "$f" >"$work/check-$seed.out" 2>"$work/check-$seed.err"
	rc=$?
	check "seed $seed: fcl-scenario check passes (exit 0)" test "$rc" -eq 0
	if [ -n "$empty" ]; then
		check "seed $seed: check warns that task $empty has no test samples" \
			grep -q "warning: with seed $seed, task $empty has [0-9]* training and 0 test samples" \
			"$work/check-$seed.err"
	else
		check "seed $seed: check warns about nothing" test ! -s "$work/check-$seed.err"
	fi
	"$FCL_SIM" "$f" --seed "$seed" --procs 2 --quiet --run-dir "$work/run-$seed" \
		--server-arg=--set=tasks.rounds_per_task=5 >"$work/run-$seed.out" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] || tail -n 20 "$work/run-$seed.out" | sed 's/^/# /'
	check "seed $seed: the run completes" test "$rc" -eq 0
	m=$work/run-$seed/metrics.json
	got=$(sed -n 's/^ *"empty_tasks": \[\(.*\)\],$/\1/p' "$m")
	check "seed $seed: metrics.json's empty_tasks is [$empty]" test "$got" = "$empty"
	# the mean of the last row over the columns that are not null, to 6 places
	row=$(last_row "$m")
	want=$(echo "$row" | awk '{ s = 0; k = 0; for (i = 1; i <= NF; i++) if ($i != "null") { s += $i; k++ } printf "%.4f", s / k }')
	all=$(echo "$row" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += ($i == "null" ? 0 : $i); printf "%.4f", s / NF }')
	acc=$(json_field "$m" final_avg_acc)
	note "seed $seed: last row [$row], final_avg_acc $acc (over every column it would be $all)"
	check "seed $seed: final_avg_acc is the mean over the tasks with test samples" \
		test "$(awk -v a="$acc" 'BEGIN { printf "%.4f", a }')" = "$want"
	if [ -n "$empty" ]; then
		check "seed $seed: the run warned at its start" \
			grep -q "warning: with seed $seed, task $empty has" "$work/run-$seed.out"
		check "seed $seed: summary.txt says task $empty was left out" \
			grep -q "task $empty has no test samples with this seed: left out of every average" \
			"$work/run-$seed/summary.txt"
		check "seed $seed: metrics.json has null for task $empty" \
			grep -q "null" <(echo "$row")
	fi
done
finish
