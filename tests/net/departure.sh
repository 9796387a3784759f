#!/usr/bin/env bash
# A client process that dies mid-run is reported as gone (events.jsonl and the
# server log name its logical clients) and, with the quorum met, the run goes on
# at once instead of waiting for each round's deadline; without the quorum it
# fails at once. A process that leaves before the first round frees its ids for
# a replacement. A client with no coordinator gives up with a clear error. A
# process computing with another OpenBLAS kernel than the server's is refused.
. "$(dirname "$0")/lib.sh"
scn=$FCL_TESTS/scenarios/departure.yaml
export OPENBLAS_NUM_THREADS=1
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
curve_keys "$work/keys"

# start_server NAME SCENARIO [ARGS]: runs fcl-server in the background, sets $srv and $ep
start_server() {
	"$FCL_SERVER" "$2" --run-dir "$work/$1" "${server_keys[@]}" "${@:3}" >"$work/$1.out" 2>"$work/$1-server.log" &
	srv=$!; pids+=("$srv")
	for _ in $(seq 100); do [ -s "$work/$1/endpoint" ] && break; sleep 0.05; done
	ep=$(cat "$work/$1/endpoint")
}
# client NAME IDS [ARGS]: starts an fcl-client in the background, sets $cli
client() {
	"$FCL_CLIENT" --connect "$ep" --ids "$2" --connect-timeout 20 "${client_keys[@]}" "${@:3}" \
		>>"$work/$1-client-$2.log" 2>&1 &
	cli=$!; pids+=("$cli")
}
# wait_round NAME R: until events.jsonl has round R (10 s at most)
wait_round() {
	for _ in $(seq 200); do
		grep -q "\"event\":\"round\",\"round\":$2," "$work/$1/events.jsonl" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
mkdir -p "$work"

# 1. kill one of two processes after round 2; quorum 0.5 is met by the other
mkdir -p "$work/kill"
start_server kill "$scn"
client kill 0-1 --round-delay 0.05; a=$cli
client kill 2-3 --round-delay 0.05; b=$cli
wait_round kill 2
kill -9 "$b"
t0=$(date +%s)
wait "$srv"; rc=$?
t1=$(date +%s)
ev=$work/kill/events.jsonl
check "the run goes on and completes after a process is killed (exit $rc)" test "$rc" -eq 0
check "events.jsonl has a gone event naming clients 2 and 3" grep -q '"event":"gone".*"clients":\[2,3\]' "$ev"
check "the server log names the gone clients" grep -q "logical clients 2-3 leave the run" "$work/kill-server.log"
check "the last round lists 2 and 3 as gone, 2 updates accepted" \
	grep -q '"event":"round","round":19,.*"accepted":2,.*"gone":\[2,3\]' "$ev"
check "no round waited for its 60 s deadline (run took $((t1 - t0)) s after the kill)" test $((t1 - t0)) -lt 30
check "metrics are complete" grep -q '"complete": true' "$work/kill/metrics.json"
check "summary.txt names the gone clients" grep -q "2 logical clients gone (process left or never joined): 2,3" "$work/kill/summary.txt"
wait "$a"; check "the surviving process ends cleanly" test $? -eq 0

# 2. the same with quorum 0.75: the run fails at once, naming the reason
mkdir -p "$work/quorum"
sed 's/quorum: 0.5/quorum: 0.75/' "$scn" >"$work/quorum.yaml"
start_server quorum "$work/quorum.yaml"
client quorum 0-1 --round-delay 0.05
client quorum 2-3 --round-delay 0.05; b=$cli
wait_round quorum 1
kill -9 "$b"
t0=$(date +%s)
wait "$srv"; rc=$?
t1=$(date +%s)
check "without the quorum the run fails (exit $rc)" test "$rc" -eq 1
check "at once, not at the deadline ($((t1 - t0)) s)" test $((t1 - t0)) -lt 30
check "events.jsonl says quorum missed" grep -q '"event":"failed".*quorum missed' "$work/quorum/events.jsonl"

# 3. a process that leaves while the server still waits for the others:
#    its ids are free again and a replacement takes them
mkdir -p "$work/join"
start_server join "$scn"
client join 0-1; a=$cli
for _ in $(seq 100); do grep -q "2 of 4 joined" "$work/join-server.log" && break; sleep 0.05; done
kill -9 "$a"
for _ in $(seq 100); do grep -q '"event":"left"' "$work/join/events.jsonl" && break; sleep 0.05; done
check "a process leaving before the first round is logged as left" grep -q '"event":"left".*"clients":\[0,1\]' "$work/join/events.jsonl"
client join 0-1
client join 2-3
wait "$srv"; rc=$?
check "a replacement for its ids joins and the run completes (exit $rc)" test "$rc" -eq 0

# 4. no coordinator: a bounded wait and a clear error
port=$((20000 + RANDOM % 20000))
t0=$(date +%s)
"$FCL_CLIENT" --connect "tcp://127.0.0.1:$port" --ids 0 --connect-timeout 2 "${client_keys[@]}" >"$work/none.log" 2>&1; rc=$?
t1=$(date +%s)
note "$(tail -n1 "$work/none.log")"
check "a client with no coordinator gives up (exit $rc)" test "$rc" -ne 0
check "within its connect timeout plus a second ($((t1 - t0)) s)" test $((t1 - t0)) -le 3
check "and says there is no coordinator" grep -q "no coordinator at tcp://127.0.0.1:$port" "$work/none.log"

# 4b. no keys, no run: plain TCP only when asked for, with a warning
"$FCL_SERVER" "$scn" --run-dir "$work/nokeys" >"$work/nokeys.log" 2>&1; rc=$?
check "fcl-server without keys refuses to start (exit $rc)" test "$rc" -eq 2
check "and says what it needs" grep -q -- "--curve-key FILE and --allow FILE are needed" "$work/nokeys.log"
"$FCL_CLIENT" --connect "tcp://127.0.0.1:$port" --ids 0 >"$work/nokeys-client.log" 2>&1; rc=$?
check "fcl-client without keys refuses to start (exit $rc)" test "$rc" -eq 2 -a -n \
	"$(grep -- "--curve-key FILE and --server-pub FILE are needed" "$work/nokeys-client.log")"
"$FCL_CLIENT" --connect "tcp://127.0.0.1:$port" --ids 0 --connect-timeout 0.5 --insecure-plain \
	>"$work/plain-client.log" 2>&1
check "fcl-client --insecure-plain warns" grep -q "insecure-plain: plain TCP" "$work/plain-client.log"
pub=$(cat "$work/keys/server.pub")
"$FCL_KEYGEN" "$work/keys/server" >"$work/keygen.log" 2>&1; rc=$?
check "fcl-keygen does not replace a key in use (exit $rc)" \
	test "$rc" -ne 0 -a "$(cat "$work/keys/server.pub")" = "$pub"

# 5. a process that stops answering (SIGSTOP: its connection stays open) is
#    gone after the server's --heartbeat; woken up, it learns it was dropped
mkdir -p "$work/stop"
start_server stop "$scn" --heartbeat 1
client stop 0-1 --round-delay 0.05
client stop 2-3 --round-delay 0.05; b=$cli
wait_round stop 2
kill -STOP "$b"
t0=$(date +%s)
for _ in $(seq 100); do grep -q '"event":"gone"' "$work/stop/events.jsonl" && break; sleep 0.05; done
t1=$(date +%s)
check "a stopped process is declared gone after the 1 s heartbeat ($((t1 - t0)) s)" \
	grep -q '"event":"gone".*"clients":\[2,3\]' "$work/stop/events.jsonl"
wait "$srv"; rc=$?
check "and the run completes without it (exit $rc)" test "$rc" -eq 0
kill -CONT "$b"
wait "$b"; rc=$?
check "the stopped process, continued, exits with an error (exit $rc)" test "$rc" -ne 0
check "saying it lost the coordinator" grep -q "lost the coordinator" "$work/stop-client-2-3.log"

# 6. at the join timeout, a quorum of the logical clients is enough to start;
#    the absent ones count as gone, and a latecomer is told the run has started
mkdir -p "$work/partial"
sed 's/join_timeout: 30/join_timeout: 1/' "$scn" >"$work/partial.yaml"
start_server partial "$work/partial.yaml"
client partial 0-1 --round-delay 0.05
wait_round partial 1
"$FCL_CLIENT" --connect "$ep" --ids 2-3 --connect-timeout 5 "${client_keys[@]}" >"$work/late.log" 2>&1; rc=$?
wait "$srv"; srv_rc=$?
check "the run starts at the join timeout with 2 of 4 clients (quorum 0.5) and completes (exit $srv_rc)" \
	test "$srv_rc" -eq 0
check "events.jsonl names the absent clients" grep -q '"event":"absent".*"clients":\[2,3\]' "$work/partial/events.jsonl"
check "rounds list them as gone" grep -q '"event":"round","round":19,.*"gone":\[2,3\]' "$work/partial/events.jsonl"
check "a latecomer is refused (exit $rc)" test "$rc" -ne 0
check "and told the run has started" grep -q "the run has started" "$work/late.log"

# 7. the coordinator dies: a client does not wait an hour for it
mkdir -p "$work/lost"
start_server lost "$scn"
"$FCL_CLIENT" --connect "$ep" --ids 0-3 --round-delay 0.2 --connect-timeout 2 "${client_keys[@]}" >"$work/lost.log" 2>&1 &
cli=$!; pids+=("$cli")
wait_round lost 1
kill -9 "$srv"
t0=$(date +%s)
wait "$cli"; rc=$?
t1=$(date +%s)
check "a client whose coordinator died exits with an error (exit $rc)" test "$rc" -ne 0
check "at once, not after its idle timeout ($((t1 - t0)) s)" test $((t1 - t0)) -le 2
check "and says it lost the coordinator" grep -q "lost the coordinator" "$work/lost.log"

# 8. a process whose OpenBLAS computes with another kernel than the server's is
#    refused before it joins (its numbers would make the run's depend on the
#    process layout); one with the server's kernel joins in its place. Nehalem's
#    kernel runs on every x86-64 CPU.
mkdir -p "$work/kernel"
core_before=${OPENBLAS_CORETYPE-}
export OPENBLAS_CORETYPE=Haswell
start_server kernel "$scn"
OPENBLAS_CORETYPE=Nehalem "$FCL_CLIENT" --connect "$ep" --ids 0-3 --connect-timeout 5 \
	"${client_keys[@]}" >"$work/kernel-other.log" 2>&1; rc=$?
check "a process computing with another OpenBLAS kernel is refused (exit $rc)" test "$rc" -ne 0
check "and told to start with the run's kernel" grep -q "OPENBLAS_CORETYPE=Haswell" "$work/kernel-other.log"
check "the server log names both kernels" \
	grep -q "computes with OpenBLAS's Nehalem kernel, the run with Haswell" "$work/kernel-server.log"
client kernel 0-3
wait "$srv"; rc=$?
check "a process with the server's kernel joins instead and the run completes (exit $rc)" test "$rc" -eq 0
check "summary.txt names the kernel" grep -q "(OpenBLAS's Haswell kernel)" "$work/kernel/summary.txt"
if [ -n "$core_before" ]; then export OPENBLAS_CORETYPE=$core_before; else unset OPENBLAS_CORETYPE; fi
finish
