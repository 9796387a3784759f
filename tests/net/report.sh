#!/usr/bin/env bash
# fcl-report on a quick-start run (and a second run, overlaid) writes valid,
# non-trivial PNG plots and a markdown and an HTML report that embed each of them.
. "$(dirname "$0")/lib.sh"
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "1..0 # SKIP gnuplot is not installed (tools/install-deps.sh installs gnuplot-nox)"
	exit 0
fi
log() { "$@" >>"$work/log" 2>&1; } # keeps the TAP stream clean
qs=$work/quickstart
small=$work/small
check "quick-start run completes" log "$FCL_SIM" "$FCL_SCENARIOS/quickstart.yaml" --quiet --procs 2 --run-dir "$qs"
check "small second run completes" log "$FCL_SIM" "$FCL_TESTS/scenarios/determinism.yaml" --quiet --procs 1 --run-dir "$small"
check "run folder has summary.md" test -s "$qs/summary.md"
check "run folder has eval_class.csv" test -s "$qs/eval_class.csv"
check "eval.csv has the initial model (round -1) and the seen set" \
	grep -q '^-1,global,0,' "$qs/eval.csv"
check "eval.csv has seen-set rows" grep -q '^49,global,seen,' "$qs/eval.csv"
for key in forgetting_max forgetting_first bwt fwt a_auc a_last min_acc wc_acc wf_10 \
	stability_gap_depth stability_gap_recovery_rounds; do
	check "metrics.json has $key" grep -q "\"$key\":" "$qs/metrics.json"
done

# evaluation.local_models: rows per participant, and the global model is untouched.
sed 's/^  every_rounds: 1$/  every_rounds: 1\n  local_models: true/' "$FCL_TESTS/scenarios/determinism.yaml" >"$work/local.yaml"
check "run with local-model evaluation completes" log "$FCL_SIM" "$work/local.yaml" --quiet --procs 2 --run-dir "$work/local"
check "eval.csv has local-model rows" grep -q '^5,client-[0-9]*,seen,' "$work/local/eval.csv"
check "metrics.json has per-client local-model metrics" grep -q '{"client": 0, "evaluations": [1-9]' "$work/local/metrics.json"
check "summary.md has the local-model table" grep -q '^## Local models' "$work/local/summary.md"
check "local-model evaluation leaves the global model as it was" \
	test "$(json_field "$work/local/metrics.json" params_checksum)" = "$(json_field "$small/metrics.json" params_checksum)"

check "fcl-report on one run exits 0" log "$FCL_REPORT" "$qs"
check "fcl-report on two runs exits 0" log "$FCL_REPORT" -o "$work/both" "$qs" "$small"
png_ok() { # a PNG signature and more than 2 kB
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] &&
		[ "$(wc -c <"$1")" -gt 2000 ]
}
for dir in "$qs/report" "$work/both"; do
	pngs=$(cd "$dir" && ls *.png 2>/dev/null)
	note "$dir: $(echo $pngs)"
	check "$(basename "$dir"): plots were drawn" test -n "$pngs"
	for p in $pngs; do
		check "$(basename "$dir")/$p is a PNG of more than 2 kB" png_ok "$dir/$p"
		check "report.md embeds $p" grep -q "]($p)" "$dir/report.md"
		check "report.html embeds $p" grep -q "src=\"$p\"" "$dir/report.html"
	done
done
check "one run: matrix, tasks, gap, bytes, seen and loss plots" \
	test "$(ls "$qs/report"/*.png | wc -l)" -eq 6
check "two runs: four plots each plus the seen and loss overlays" test "$(ls "$work/both"/*.png | wc -l)" -eq 10
check "the report lists both runs' metrics" grep -q '| `stability_gap_depth` | points |.*|.*|' "$work/both/report.md"
refuses() { "$FCL_REPORT" "$work" 2>"$work/refused.err"; [ $? -eq 2 ]; }
check "fcl-report refuses a folder that is neither a run nor an fcl-compare folder (exit 2)" refuses
check "... saying what is missing" grep -q "$work/eval.csv is missing" "$work/refused.err"

# Percentages: the metrics table says 100 x metrics.json (2 decimals).
pct=$(awk -v v="$(json_field "$qs/metrics.json" final_avg_acc)" 'BEGIN { printf "%.2f", 100 * v }')
check "the metrics table gives final_avg_acc in % ($pct)" grep -q "^| \`final_avg_acc\` | % | $pct |" "$qs/report/report.md"
# The loss curve: mean_loss of each round of events.jsonl
first_loss=$(sed -n 's/.*"event":"round","round":0,.*"mean_loss":\([0-9.]*\),.*/\1/p' "$qs/events.jsonl")
check "loss.png plots the rounds' mean_loss (round 0: $first_loss)" \
	grep -q "^0 [0-9.]* [0-9.]* $first_loss\$" "$qs/report/data/$(basename "$qs")-bytes.dat"
check "up to 12 tasks: the heat map has its values in the cells, the task plot a key" \
	grep -q "with labels" "$qs/report/quickstart-matrix.gp"
grep -q "title 'task 4'" "$qs/report/quickstart-tasks.gp" || not_ok "the task plot names task 4"

# 16 tasks: the task plot becomes a heat map (task by round), no values in the cells.
sed -e 's/count: 3$/count: 16/' -e 's/classes_per_task: 3/classes_per_task: 2/' \
	-e 's/generator: class-incremental/generator: scole/' -e 's/rounds_per_task: 2/rounds_per_task: 1/' \
	"$FCL_TESTS/scenarios/determinism.yaml" >"$work/long.yaml"
check "a run of 16 tasks completes" log "$FCL_SIM" "$work/long.yaml" --quiet --procs 2 --run-dir "$work/long"
check "fcl-report draws it" log "$FCL_REPORT" "$work/long"
check "... the tasks as a heat map (no 16 lines and keys)" \
	grep -q "using 1:2:3 with image" "$work/long/report/long-tasks.gp"
check "... the matrix without values in its 256 cells" bash -c "! grep -q 'with labels' '$work/long/report/long-matrix.gp'"
check "... the gap plot coloured by task on a colour bar" grep -q "lc palette cb i notitle" "$work/long/report/long-gap.gp"
check "... PNGs of more than 2 kB" png_ok "$work/long/report/long-tasks.png"

# An fcl-compare folder: mean and band over the seeds of each rule.
cmp_bin=$(dirname "$FCL_SIM")/fcl-compare
check "fcl-compare of 2 rules x 2 seeds" log "$cmp_bin" "$FCL_TESTS/scenarios/compare.yaml" \
	--rules fedavg,fot --seeds 2 --procs 2 --out "$work/cmp"
check "fcl-report takes the fcl-compare folder" log "$FCL_REPORT" -o "$work/cmpr" "$work/cmp"
check "... bands of accuracy and loss over the seeds" png_ok "$work/cmpr/bands.png"
png_ok "$work/cmpr/loss-bands.png" || not_ok "loss-bands.png drawn"
check "... embedded in the report" grep -q '](bands.png)' "$work/cmpr/report.md"
mean_of() { # the mean final accuracy in compare.md's seed summary and in the report
	sed -n "s/^| fedavg | \([0-9.]*\) ± .*/\1/p" "$work/cmp/compare.md"
	sed -n "s/^| \`final_avg_acc\` | % | \([0-9.]*\) ± .*/\1/p" "$work/cmpr/report.md"
}
check "... the mean over seeds agrees with compare.md's ($(mean_of | tr '\n' ' '))" \
	awk 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { exit !(NR == 2 && a - b < 0.011 && b - a < 0.011) }' <(mean_of)
check "... a band file per rule, 3 evaluations each over 2 seeds" \
	test "$(awk '$4 == 2' "$work/cmpr/data/fot-band-taskseen.dat" | wc -l)" -eq 3

# Command line
unknown() { "$FCL_REPORT" --nosuch "$qs" 2>"$work/unk.err"; [ $? -eq 2 ]; }
check "an unknown option: exit 2" unknown
check "... named" grep -q "^fcl-report: unknown option '--nosuch'" "$work/unk.err"
check "--version names the build" bash -c "'$FCL_REPORT' --version | grep -q '^fcl-report [0-9]'"
[ "$failed" -eq 0 ] || tail -n 30 "$work/log" | sed 's/^/# /'
finish
