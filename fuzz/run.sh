#!/bin/sh
# fuzz/run.sh FUZZER CORPUS REGRESSIONS - one harness for FCL_FUZZ_SECONDS
# (default 30), starting from the committed corpus and regression inputs,
# which it leaves untouched (new inputs go to a scratch folder). A crash,
# leak, sanitizer report or hang (over 10 s for one input) fails the test and
# leaves the input in FCL_FUZZ_ARTIFACTS (default build-fuzz/fuzz-artifacts).
set -u
exe=$1 corpus=$2 regressions=$3
name=$(basename "$exe")
seconds=${FCL_FUZZ_SECONDS:-30}
artifacts=${FCL_FUZZ_ARTIFACTS:-$(dirname "$exe")/../fuzz-artifacts}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
# the regression inputs first, each once, then the timed run
"$exe" -runs=0 -timeout=10 -rss_limit_mb=2048 "$regressions" || exit 1
"$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
	"$scratch" "$corpus" "$regressions" 2>"$scratch.log"
status=$?
grep -E "^Done [0-9]+ runs|DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
	"$scratch.log" | sed "s/^/$name: /"
tail -n 40 "$scratch.log" | grep -E "ERROR|SUMMARY|artifact|Test unit written" || true
rm -f "$scratch.log"
exit $status
