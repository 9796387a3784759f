#!/usr/bin/env bash
# fcl-compare gives, for each combination, exactly the numbers of running it alone.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/compare.yaml
cmp_bin=$(dirname "$FCL_SIM")/fcl-compare
out=$work/cmp

compare() { "$cmp_bin" "$scn" --rules fedavg,fot,median --seeds 2 --procs 2 --out "$out" \
	>"$work/cmp.out" 2>&1; }
alone() { # alone SCENARIO PROCS DIR
	"$FCL_SIM" "$1" --quiet --procs "$2" --run-dir "$3" >"$3.out" 2>&1
}
strategies() {
	"$cmp_bin" "$scn" --rules fedavg,fot --strategies finetune,er --set strategy.memory=40 \
		--procs 2 --out "$work/strat" >"$work/strat.out" 2>&1
}
check "fcl-compare runs fedavg, fot and median over 2 seeds" compare
[ -s "$out/compare.md" ] || sed 's/^/# /' "$work/cmp.out" | tail -n 20
check "it writes compare.md and compare.csv" test -s "$out/compare.md" -a -s "$out/compare.csv"
check "the table has one row per run (6) plus a header" \
	test "$(wc -l <"$out/compare.csv")" -eq 7
check "the markdown is printed at the end" grep -q '^| fot | 5 |' "$work/cmp.out"

# standalone: the same scenario written by hand with rule fot, seed 5, other process layout
sed -e 's/rule: fedavg/rule: fot/' -e 's/^seed: 4/seed: 5/' "$scn" >"$work/fot5.yaml"
check "standalone fot seed 5 runs (3 processes)" alone "$work/fot5.yaml" 3 "$work/alone-fot"
check "fot seed 5: metrics.json byte-identical to the compared run" \
	cmp -s "$work/alone-fot/metrics.json" "$out/fot-seed5/metrics.json"
check "fot seed 5: eval.csv identical" cmp -s "$work/alone-fot/eval.csv" "$out/fot-seed5/eval.csv"
same_bases() { [ -s "$work/alone-fot/fot.csv" ] && cmp -s <(cut -d, -f1-9 "$work/alone-fot/fot.csv") <(cut -d, -f1-9 "$out/fot-seed5/fot.csv"); }
check "fot seed 5: basis sizes identical (fot.csv columns 1-9)" same_bases
check "standalone fedavg seed 4 (the derived file) runs" alone "$out/fedavg-seed4.yaml" 1 \
	"$work/alone-avg"
check "fedavg seed 4: metrics.json byte-identical" \
	cmp -s "$work/alone-avg/metrics.json" "$out/fedavg-seed4/metrics.json"
acc=$(json_field "$work/alone-fot/metrics.json" final_avg_acc)
check "the CSV row of fot seed 5 carries the standalone accuracy ($acc)" \
	grep -q "^fot,5,1,$acc," "$out/compare.csv"
check "rules differ: fedavg and fot give different models" \
	test "$(json_field "$out/fedavg-seed4/metrics.json" params_checksum)" != \
	"$(json_field "$out/fot-seed4/metrics.json" params_checksum)"
check "--strategies crosses rules and strategies (4 runs)" strategies
check "... one row per rule/strategy" test "$(grep -c '^fot/er,4,1,' "$work/strat/compare.csv")" -eq 1
check "the fot + er run alone (1 process) gives the same metrics.json" \
	alone "$work/strat/fot-er-seed4.yaml" 1 "$work/alone-fot-er"
check "... byte-identical" cmp -s "$work/alone-fot-er/metrics.json" "$work/strat/fot-er-seed4/metrics.json"
check "er and finetune differ under fedavg" test \
	"$(json_field "$work/strat/fedavg-er-seed4/metrics.json" params_checksum)" != \
	"$(json_field "$work/strat/fedavg-finetune-seed4/metrics.json" params_checksum)"
finish
