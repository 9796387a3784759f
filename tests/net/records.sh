#!/usr/bin/env bash
# The records of a run agree: its scenario.yaml is the scenario as run (--set
# edits and --seed applied, listed in its first line) and running that file again
# gives the same metrics.json; rounds count from 0 in the progress line, eval.csv,
# events.jsonl and server.log; an existing --run-dir is refused unless --force.
. "$FCL_TESTS/net/lib.sh"
f=$FCL_TESTS/scenarios/smoke/quickstart-smoke.yaml
"$FCL_SIM" "$f" --seed 9 --procs 2 --run-dir "$work/a" \
	--server-arg=--set=tasks.rounds_per_task=3 --server-arg=--set=train.lr=0.04 >"$work/a.out" 2>&1
check "a run with --seed 9 and two --set edits completes" test $? -eq 0
check "metrics.json says seed 9" grep -q '"seed": 9,' "$work/a/metrics.json"
check "scenario.yaml says seed: 9" grep -q '^seed: 9$' "$work/a/scenario.yaml"
check "scenario.yaml has the edits applied" \
	bash -c "grep -q 'rounds_per_task: 3' '$work/a/scenario.yaml' && grep -q 'lr: 0.04' '$work/a/scenario.yaml'"
check "its first line lists the edits" grep -q \
	'^# The scenario as run: .*quickstart-smoke.yaml with --set tasks.rounds_per_task=3, --set train.lr=0.04, --seed 9' \
	"$work/a/scenario.yaml"
again=$work/again.yaml
cp "$work/a/scenario.yaml" "$again"
"$FCL_SIM" "$again" --procs 1 --quiet --run-dir "$work/b" >"$work/b.out" 2>&1
check "running the run's scenario.yaml again, with no options, gives the same metrics.json" \
	cmp -s "$work/a/metrics.json" "$work/b/metrics.json"

# One round numbering: the last round is 14 (5 tasks x 3 rounds) everywhere.
last_progress=$(sed -n 's/^round \([0-9]*\) (0-\([0-9]*\)).*/\1 \2/p' "$work/a.out" | tail -n 1)
check "the progress line's last round is 14 of 0-14" test "$last_progress" = "14 14"
check "eval.csv's last round is 14" test "$(tail -n 1 "$work/a/eval.csv" | cut -d, -f1)" = 14
check "events.jsonl's last round line is round 14" \
	test "$(grep '"event":"round"' "$work/a/events.jsonl" | tail -n 1 | sed 's/.*"round":\([0-9]*\).*/\1/')" = 14
check "server.log's last evaluation is after round 14" grep -q 'round 14 (task end): accuracy' "$work/a/server.log"
check "metrics.json counts 15 rounds" grep -q '"rounds": 15,' "$work/a/metrics.json"

# An existing run folder.
"$FCL_SIM" "$f" --procs 2 --quiet --run-dir "$work/a" >"$work/c.out" 2>&1
rc=$?
check "an existing --run-dir is refused (exit 2)" test "$rc" -eq 2
check "... saying why" grep -q "the run folder .*/a exists: give another --run-dir, or --force" "$work/c.out"
check "... and the run in it is untouched" grep -q '^seed: 9$' "$work/a/scenario.yaml"
"$FCL_SIM" "$f" --procs 2 --quiet --run-dir "$work/a" --force >"$work/d.out" 2>&1
check "--force replaces the run in it" test $? -eq 0
check "... whose scenario.yaml is the new run's" grep -q '^seed: 1$' "$work/a/scenario.yaml"
check "... and whose server.log is the new run's alone" \
	test "$(grep -c 'listening on' "$work/a/server.log")" -eq 1
mkdir -p "$work/other/keep"
"$FCL_SIM" "$f" --procs 2 --quiet --run-dir "$work/other" --force >"$work/e.out" 2>&1
check "--force refuses a folder that is not a run folder" test $? -ne 0 -a -d "$work/other/keep"
finish
