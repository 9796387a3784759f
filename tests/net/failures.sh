#!/usr/bin/env bash
# Errors that say what happened, and "complete" only when it is true:
#  1. the disk fills up mid-run (a small tmpfs, filled): the run stops at
#     once, metrics.json and summary.txt say "disk full" and are not
#     complete; once there is room again, --resume finishes it with the
#     results of an uninterrupted run;
#  2. 40 kB left at the start: the coordinator says so at once (not a
#     missing endpoint blamed on "terminated");
#  3. the soft open-file limit is raised to the hard one;
#  4. out of file descriptors (a hard limit of 40, 60 idle connections): the
#     run completes with every result written, the checkpoints it could not
#     write named in events.jsonl;
#  5. a coordinator busy evaluating for seconds, with 3 s heartbeats,
#     keeps its client processes;
#  6. a client process out of memory (--fault oom) says so before it goes:
#     server.log and events.jsonl name it.
# 1 and 2 need root (a tmpfs) and are skipped elsewhere. (A hostname with a
# newline: net/garbage_peer.c.)
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/resume.yaml
export OPENBLAS_NUM_THREADS=1
mounts=()
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
curve_keys "$work/keys"
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# tmpfs DIR SIZE: a small filesystem at DIR (root only); 1 if it cannot be had
tmpfs() {
	mkdir -p "$1" && [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null ||
		return 1
	mounts+=("$1")
}
wait_round() {
	for _ in $(seq 600); do
		grep -q "\"event\":\"round\",\"round\":$2," "$1/events.jsonl" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
same_as_ref() { cmp -s "$1/metrics.json" "$work/ref/metrics.json" && cmp -s "$1/eval.csv" "$work/ref/eval.csv"; }
reason() { sed -n 's/^  "reason": "\(.*\)",$/\1/p' "$1/metrics.json"; }
"$FCL_SIM" "$scn" --quiet --procs 2 --run-dir "$work/ref" >"$work/ref.out" 2>&1
check "the reference run completes" grep -q '"complete": true' "$work/ref/metrics.json"

# 1. the disk fills up
if tmpfs "$work/disk" 3m; then
	d=$work/disk/run
	"$FCL_SIM" "$scn" --quiet --procs 2 --run-dir "$d" --client-arg=--round-delay=0.01 \
		>"$work/full.out" 2>&1 &
	pid=$!
	wait_round "$d" 50
	dd if=/dev/zero of="$work/disk/filler" bs=4k >/dev/null 2>&1
	wait $pid
	rc=$?
	note "$(reason "$d")"
	check "a full disk stops the run (exit $rc)" test $rc -ne 0
	check "metrics.json: not complete, the reason begins with 'disk full:'" \
		grep -q '^  "reason": "disk full: cannot write .*No space left on device' "$d/metrics.json"
	check "summary.txt says the run did not finish, disk full" \
		grep -q '^run did not finish (.* rounds.*): disk full' "$d/summary.txt"
	check "events.jsonl ends with the failure, by name" \
		grep -q '"event":"failed".*"detail":"disk full' "$d/events.jsonl"
	rm -f "$work/disk/filler"
	"$FCL_SIM" --resume "$d" --quiet --procs 3 >"$work/full-resume.out" 2>&1
	rc=$?
	check "with room again, the resumed run completes (exit $rc)" grep -q '"complete": true' "$d/metrics.json"
	check "and its results are the uninterrupted run's" same_as_ref "$d"
else
	for t in "a full disk stops the run" "metrics.json says disk full" "summary.txt says disk full" \
		"events.jsonl says disk full" "the resumed run completes" "the same results"; do
		skip "$t" "not root: no small filesystem to fill"
	done
fi

# 2. almost no room at the start
if tmpfs "$work/small" 40k; then
	"$FCL_SIM" "$scn" --quiet --procs 2 --run-dir "$work/small/run" >"$work/small.out" 2>&1
	rc=$?
	note "$(grep -m1 'disk full' "$work/small.out")"
	check "40 kB free: the run fails at once (exit $rc), saying disk full" \
		grep -q "run did not finish: disk full: cannot set .* kB aside for the results" "$work/small.out"
	check "and does not blame a signal" test -z "$(grep -i 'terminated' "$work/small.out")"
	check "metrics.json says so too" grep -q '"reason": "disk full' "$work/small/run/metrics.json"
else
	for t in "40 kB free: the run fails saying disk full" "no signal blamed" "metrics.json says so"; do
		skip "$t" "not root: no small filesystem"
	done
fi

# 3. the soft limit goes up to the hard one
hard=$(ulimit -Hn)
(
	ulimit -Sn 64
	exec "$FCL_SERVER" "$scn" --run-dir "$work/limit" --insecure-plain 2>"$work/limit.log"
) &
srv=$!
pids+=("$srv")
for _ in $(seq 200); do [ -s "$work/limit/endpoint" ] && break; sleep 0.05; done
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$srv/limits")
check "a coordinator started with 64 open files may open $hard (got $soft)" test "$soft" = "$hard"
kill "$srv"

# 4. out of file descriptors: a hard limit of 40 and 60 idle connections
(
	ulimit -n 40
	exec "$FCL_SERVER" "$scn" --run-dir "$work/fd" "${server_keys[@]}" 2>"$work/fd.log"
) &
srv=$!
pids+=("$srv")
for _ in $(seq 200); do [ -s "$work/fd/endpoint" ] && break; sleep 0.05; done
ep=$(cat "$work/fd/endpoint")
"$FCL_CLIENT" --connect "$ep" --ids 0-5 --round-delay 0.02 "${client_keys[@]}" >"$work/fd-client.log" 2>&1 &
pids+=("$!")
wait_round "$work/fd" 5
idle=()
for _ in $(seq 60); do exec {f}<>"/dev/tcp/127.0.0.1/${ep##*:}" && idle+=("$f"); done 2>/dev/null
wait "$srv"
rc=$?
for f in "${idle[@]}"; do exec {f}>&-; done
check "out of file descriptors, the run completes (exit $rc) with metrics.json complete" \
	grep -q '"complete": true' "$work/fd/metrics.json"
check "summary.txt and summary.md are written" test -s "$work/fd/summary.txt" -a -s "$work/fd/summary.md"
check "the checkpoints it could not write are named in events.jsonl" \
	grep -q '"event":"checkpoint_dropped".*too many open files' "$work/fd/events.jsonl"
check "its results are the uninterrupted run's" same_as_ref "$work/fd"

# 5. a busy coordinator: evaluations of seconds, heartbeats of 3 s (0.5 and 1.5 s lost
# processes on a machine with a load average of 10 on 2 cores, a 12 MB round start
# in flight: a pong took longer)
"$FCL_SIM" "$FCL_TESTS/scenarios/busy.yaml" --quiet --procs 2 --run-dir "$work/busy" \
	--server-arg=--heartbeat=3 --client-arg=--heartbeat=3 >"$work/busy.out" 2>&1
rc=$?
per=$(sed -n 's/.*"evaluations": \([0-9]*\),.*/\1/p' "$work/busy/metrics.json")
secs=$(grep -o '"eval_seconds":[0-9.]*' "$work/busy/events.jsonl" | cut -d: -f2)
note "evaluations took $secs s in all"
check "evaluations of $secs s in all, each longer than the heartbeat" \
	awk -v s="$secs" 'BEGIN { exit !(s / 4 > 3) }'
check "the run completes (exit $rc), no process declared gone" \
	test $rc -eq 0 -a -z "$(grep '"event":"gone"' "$work/busy/events.jsonl")"
# one task: forgetting, BWT and the stability gap are undefined, said as n/a, not nan
check "a one-task summary says n/a where a metric is undefined, never nan" \
	sh -c "grep -q 'forgetting (max) *n/a points' '$work/busy/summary.txt' &&
		! grep -qi 'nan' '$work/busy/summary.txt'"
# 6. a client process runs out of memory
"$FCL_SIM" "$scn" --quiet --procs 3 --run-dir "$work/oom" --client-arg=--fault=oom:3 \
	--server-arg=--set=run.quorum=0.5 >"$work/oom.out" 2>&1
rc=$?
check "a client process out of memory: the run goes on without it (exit $rc)" \
	grep -q '"complete": true' "$work/oom/metrics.json"
check "events.jsonl says why it went" \
	grep -q '"event":"gone".*"reason":"connection closed or heartbeat lost after saying: out of memory","clients":\[2,3\]' \
	"$work/oom/events.jsonl"
check "and server.log" grep -q "reports error -12: out of memory" "$work/oom/server.log"
finish
