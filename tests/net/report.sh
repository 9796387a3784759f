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
check "one run: matrix, tasks, gap, bytes and seen plots" \
	test "$(ls "$qs/report"/*.png | wc -l)" -eq 5
check "two runs: four plots each plus the overlay" test "$(ls "$work/both"/*.png | wc -l)" -eq 9
check "the report lists both runs' metrics" grep -q '| `stability_gap_depth` |.*|.*|' "$work/both/report.md"
check "fcl-report refuses a folder that is not a run" bash -c "! '$FCL_REPORT' '$work' 2>/dev/null"
[ "$failed" -eq 0 ] || tail -n 30 "$work/log" | sed 's/^/# /'
finish
