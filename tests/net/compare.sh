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
	grep -q "^fot,finetune,,5,1,$acc," "$out/compare.csv"
check "rules differ: fedavg and fot give different models" \
	test "$(json_field "$out/fedavg-seed4/metrics.json" params_checksum)" != \
	"$(json_field "$out/fot-seed4/metrics.json" params_checksum)"
check "--strategies crosses rules and strategies (4 runs)" strategies
check "... one row per rule/strategy, rule and strategy in columns of their own" \
	test "$(grep -c '^fot,er,,4,1,' "$work/strat/compare.csv")" -eq 1
check "the fot + er run alone (1 process) gives the same metrics.json" \
	alone "$work/strat/fot-er-seed4.yaml" 1 "$work/alone-fot-er"
check "... byte-identical" cmp -s "$work/alone-fot-er/metrics.json" "$work/strat/fot-er-seed4/metrics.json"
check "er and finetune differ under fedavg" test \
	"$(json_field "$work/strat/fedavg-er-seed4/metrics.json" params_checksum)" != \
	"$(json_field "$work/strat/fedavg-finetune-seed4/metrics.json" params_checksum)"

# Everything is checked before the first run: a bad name stops the sweep with
# exit 2, naming it, and nothing runs.
bad_rule() {
	"$cmp_bin" "$scn" --rules fedavg,nosuchrule --out "$work/bad" >"$work/bad.out" 2>&1
	[ $? -eq 2 ]
}
check "--rules fedavg,nosuchrule exits 2" bad_rule
check "... naming the rule and the option" grep -q "^fcl-compare: --rules: unknown rule 'nosuchrule'" "$work/bad.out"
check "... before running anything (no run folder, no fedavg run)" \
	test ! -e "$work/bad" -a "$(grep -c 'run 1/' "$work/bad.out")" -eq 0
bad_set() {
	"$cmp_bin" "$scn" --rules fedavg,fedprox --set train.lr=0.1 --set train.lr=abc --out "$work/bad2" \
		>"$work/bad2.out" 2>&1
	[ $? -eq 2 ]
}
check "a bad --set exits 2 before the first run" bad_set
check "... naming the edit and the line of the kept derived scenario" \
	grep -q "^fcl-compare: --set train.lr=abc (run fedavg seed 4): $work/bad2/fedavg-seed4.yaml:[0-9]*:[0-9]*: train.lr" "$work/bad2.out"
check "... and nothing ran" test ! -e "$work/bad2/fedavg-seed4"
unknown() { "$cmp_bin" "$scn" --rules fedavg --nosuch >"$work/unk.out" 2>&1; [ $? -eq 2 ]; }
check "an unknown option exits 2" unknown
check "... and is named" grep -q "unknown option '--nosuch'" "$work/unk.out"
owned() { "$cmp_bin" "$scn" --rules fedavg --set aggregation.rule=fot >"$work/own.out" 2>&1; [ $? -eq 2 ]; }
check "--set aggregation.rule is refused (it is --rules')" owned

# --set seed=N is the first seed of the sweep, not ignored
seeded() { "$cmp_bin" "$scn" --rules fedavg --seeds 2 --set seed=9 --procs 2 --out "$work/s9" \
	>"$work/s9.out" 2>&1; }
check "--set seed=9 --seeds 2 runs" seeded
check "... seeds 9 and 10" test "$(json_field "$work/s9/fedavg-seed9/metrics.json" seed)" = 9 -a \
	"$(json_field "$work/s9/fedavg-seed10/metrics.json" seed)" = 10
check "... the table says so" grep -q '^| fedavg | 10 |' "$work/s9.out"
refused() { "$cmp_bin" "$scn" --rules fedavg --seeds 2 --set seed=9 --procs 2 --out "$work/s9" \
	>"$work/s9b.out" 2>&1; [ $? -eq 2 ]; }
check "the same --out again without --resume or --force is refused" refused

# Ctrl-C in the middle of a sweep, then --resume: only the missing runs run,
# and the table is the one of an uninterrupted sweep (but for wall times).
sweep() { # sweep DIR [ARG...]
	local dir=$1; shift
	"$cmp_bin" "$scn" --rules fedavg,fot --seeds 2 --procs 2 --out "$dir" "$@"
}
setsid bash -c "$(declare -f sweep); cmp_bin=$cmp_bin scn=$scn; \
	sweep $work/int --client-arg=--round-delay=0.3 >$work/int.out 2>$work/int.err" &
spid=$!
for _ in $(seq 300); do [ -e "$work/int/fedavg-seed5" ] && break; sleep 0.1; done
kill -INT -- "-$spid" # the process group, as a terminal's Ctrl-C
wait "$spid"
check "the interrupted sweep stops with exit 1 after its first run" \
	test $? -ne 0 -a -e "$work/int/fedavg-seed4.done" -a ! -e "$work/int/fedavg-seed5.done" \
	-a ! -e "$work/int/fot-seed4"
grep -q interrupted "$work/int.err" || sed 's/^/# /' "$work/int.err"
check "... saying so" grep -q "interrupted: stopped after 1 of 4 runs" "$work/int.err"
cp "$work/int/fedavg-seed4.log" "$work/kept.log"
resume() { sweep "$work/int" --resume >"$work/res.out" 2>"$work/res.err"; }
check "--resume goes on" resume
check "... keeping 1 run and running 3" grep -q "1 of 4 runs finished before, 3 to run" "$work/res.err"
check "... which are the missing ones" test "$(grep -c '^fcl-compare: run [0-9]/3 .*%' "$work/res.err")" -eq 3 -a \
	"$(grep -c 'fedavg seed 4' "$work/res.err")" -eq 0
check "... leaving the finished run alone" cmp -s "$work/kept.log" "$work/int/fedavg-seed4.log"
whole() { sweep "$work/whole" >"$work/whole.out" 2>/dev/null; }
check "an uninterrupted sweep of the same" whole
# the tables without their wall-time columns (and the line naming the folder)
no_wall() { awk -F'|' 'BEGIN { OFS = "|" } /^\| rule \| seed/ { w = 9 } /^\| rule \| final/ { w = 7 }
	/^\|/ && w { $(w + 1) = "" } !/^tables:/ { print }' "$1"; }
check "... prints the same table" cmp -s <(no_wall "$work/res.out") <(no_wall "$work/whole.out")
# wall seconds and traffic aside: a hello carries its process id, whose
# varint takes 2 or 3 bytes depending on the pid
check "... and writes the same compare.csv (but wall seconds and bytes)" \
	cmp -s <(cut -d, -f1-11,15- "$work/int/compare.csv") <(cut -d, -f1-11,15- "$work/whole/compare.csv")
changed() { sweep "$work/int" --resume --set train.lr=0.07 >/dev/null 2>"$work/chg.err"; }
check "--resume with another edit runs everything again (the derived scenarios differ)" changed
check "... all 4" grep -q "0 of 4 runs finished before, 4 to run" "$work/chg.err"
finish
