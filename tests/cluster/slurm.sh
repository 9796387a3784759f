#!/usr/bin/env bash
# The cluster suite: a real 3-node Slurm cluster made of network namespaces
# (see slurm-netns.sh). tools/fcl-slurm runs a scenario with fcl-server on node
# n1 and fcl-client processes on n2 and n3; its metrics must equal, byte for
# byte, those of the same scenario run on one machine by fcl-sim. Then the
# client step of n3 is cancelled mid-run: the server reports those logical
# clients gone and, the quorum being met, finishes the run. The coordinator's
# step killed (SIGKILL) mid-run: fcl-slurm --resume finishes the run with the
# one-machine results; and with run.on_client_loss: rollback, n3's cancelled
# processes are started again and the results are those of the one machine.
# Skipped (TAP "1..0 # SKIP") where namespaces or Slurm cannot be set up.
. "$(dirname "$0")/../net/lib.sh"
. "$(dirname "$0")/slurm-netns.sh"
scn=$FCL_TESTS/scenarios/cluster.yaml
slurm_run=$FCL_TESTS/../tools/fcl-slurm
export OPENBLAS_NUM_THREADS=1
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
	cluster_down
	rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # the daemons' scratch lives inside

cluster_up "$work/cluster"
rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] || skip_reason="cluster setup failed (see the log above)"
	echo "1..0 # SKIP $skip_reason"
	exit 0
fi
note "3 Slurm nodes up in namespaces ${cl_netns[*]}"
for h in c $CL_NODES; do
	check "host $h has no default route" test -z "$(ip -n "$CL_PREFIX$h" route show default)"
done

# 1. one machine, fcl-sim: the reference
local_run() { "$FCL_SIM" "$scn" --quiet --procs 2 --run-dir "$work/local" >"$work/local.out" 2>&1; }
check "the one-machine run (fcl-sim, 2 processes) completes" local_run

# 2. the same scenario under Slurm: server on n1, 2 client processes on each of n2, n3
t0=$SECONDS
in_ctl "$slurm_run" "$scn" --nodes 3 --procs-per-node 2 --run-dir "$work/slurm" --timeout 120 \
	>"$work/slurm.out" 2>&1
rc=$?
note "fcl-slurm took $((SECONDS - t0)) s (submit, run, collect)"
check "fcl-slurm runs the scenario on the cluster (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$work/slurm.out" "$work"/slurm/*.log 2>/dev/null | tail -n 40
log=$work/slurm/server.log
check "the server ran on n1 (it bound on 10.231.7.11's host)" grep -q "server on n1 ($CL_NET.11)" "$work"/slurm/slurm-*.out
check "client processes connected from n2 ($CL_NET.12)" grep -q "connected from $CL_NET.12" "$log"
check "client processes connected from n3 ($CL_NET.13)" grep -q "connected from $CL_NET.13" "$log"
check "no client process ran on the server's node" test "$(grep -c "connected from $CL_NET.11" "$log")" -eq 0
check "4 client processes joined" test "$(grep -c "connected from" "$log")" -eq 4
check "metrics.json is complete" grep -q '"complete": true' "$work/slurm/metrics.json"
check "one log per client process, named by node and task" \
	test "$(ls "$work"/slurm/client-n2-[01].log "$work"/slurm/client-n3-[01].log 2>/dev/null | wc -l)" -eq 4
check "metrics.json is byte-identical to the one-machine run" cmp -s "$work/local/metrics.json" "$work/slurm/metrics.json"
check "eval.csv is identical to the one-machine run" cmp -s "$work/local/eval.csv" "$work/slurm/eval.csv"
note "checksums: one machine $(json_field "$work/local/metrics.json" params_checksum)," \
	"Slurm $(json_field "$work/slurm/metrics.json" params_checksum)"

# 3. cancel n3's client step mid-run
in_ctl "$slurm_run" "$scn" --nodes 3 --procs-per-node 2 --run-dir "$work/cancel" --timeout 120 \
	--client-arg=--round-delay --client-arg=0.3 >"$work/cancel.out" 2>&1 &
bg+=($!)
runner=$!
ev=$work/cancel/events.jsonl
for _ in $(seq 600); do
	grep -q '"event":"round","round":2,' "$ev" 2>/dev/null && break
	sleep 0.1
done
job=$(sed -n 's/.*submitted job \([0-9]*\).*/\1/p' "$work/cancel.out")
step=$(in_ctl squeue -h -s -j "$job" -o '%i %N' 2>/dev/null | awk '$2 == "n3" { print $1 }' | head -n1)
note "job $job: cancelling step $step (the client processes of n3) after round 2"
check "n3's client step found" test -n "$step"
in_ctl scancel "$step"
wait "$runner"
rc=$?
check "the run still completes (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$work/cancel.out" "$work/cancel/server.log" 2>/dev/null | tail -n 30
check "events.jsonl reports clients 4-5 gone" grep -q '"event":"gone".*"address":"'$CL_NET'.13".*"clients":\[4,5\]' "$ev"
check "events.jsonl reports clients 6-7 gone" grep -q '"event":"gone".*"address":"'$CL_NET'.13".*"clients":\[6,7\]' "$ev"
check "the server log names them" grep -q "logical clients 6-7 leave the run" "$work/cancel/server.log"
check "the last round ran without them" \
	grep -q '"event":"round","round":11,.*"gone":\[[4-7]' "$ev"
check "metrics.json is complete" grep -q '"complete": true' "$work/cancel/metrics.json"

# 4. n3 drops off the network mid-run (its link goes down: no FIN, no RST, only
#    silence): the server's heartbeats find it; the link comes back afterwards
in_ctl "$slurm_run" "$scn" --nodes 3 --procs-per-node 2 --run-dir "$work/vanish" --timeout 120 \
	--server-arg=--heartbeat --server-arg=2 --client-arg=--heartbeat --client-arg=2 \
	--client-arg=--round-delay --client-arg=0.3 >"$work/vanish.out" 2>&1 &
bg+=($!)
runner=$!
ev=$work/vanish/events.jsonl
for _ in $(seq 600); do
	grep -q '"event":"round","round":2,' "$ev" 2>/dev/null && break
	sleep 0.1
done
ip -n "${CL_PREFIX}n3" link set eth0 down
t0=$SECONDS
for _ in $(seq 200); do
	[ "$(grep -c '"event":"gone"' "$ev")" -ge 2 ] && break
	sleep 0.1
done
note "n3's link down after round 2; both its processes gone after $((SECONDS - t0)) s"
ip -n "${CL_PREFIX}n3" link set eth0 up
check "the silent node's processes are declared gone by heartbeat (2 s)" \
	test "$(grep -c '"event":"gone".*"address":"'$CL_NET'.13"' "$ev")" -eq 2
wait "$runner"
rc=$?
check "the run completes without them (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$work/vanish.out" "$work/vanish/server.log" 2>/dev/null | tail -n 30
check "metrics.json is complete" grep -q '"complete": true' "$work/vanish/metrics.json"

# step_of DIR NODE: the job's step running on NODE, once the run has reached round 2
step_of() {
	for _ in $(seq 600); do
		grep -q '"event":"round","round":2,' "$1/events.jsonl" 2>/dev/null && break
		sleep 0.1
	done
	local job
	job=$(sed -n 's/.*submitted job \([0-9]*\).*/\1/p' "$1.out")
	in_ctl squeue -h -s -j "$job" -o '%i %N' 2>/dev/null | awk -v n="$2" '$2 == n { print $1 }' |
		head -n1
}

# 5. the coordinator's step killed mid-run, then resumed with the same allocation shape
in_ctl "$slurm_run" "$scn" --nodes 3 --procs-per-node 2 --run-dir "$work/crash" --timeout 120 \
	--client-arg=--round-delay --client-arg=0.3 >"$work/crash.out" 2>&1 &
bg+=($!)
runner=$!
step=$(step_of "$work/crash" n1)
note "killing the coordinator's step $step after round 2"
in_ctl scancel --signal=KILL "$step"
wait "$runner"
rc=$?
check "the job fails without its coordinator (exit $rc)" test $rc -ne 0
check "metrics.json is not complete" grep -q '"complete": false' "$work/crash/metrics.json"
in_ctl "$slurm_run" --resume "$work/crash" --nodes 3 --procs-per-node 2 --timeout 120 \
	>"$work/crash-resume.out" 2>&1
rc=$?
check "fcl-slurm --resume finishes the run (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$work/crash-resume.out" "$work/crash/server.log" 2>/dev/null | tail -n 30
check "its metrics.json is the one-machine run's" cmp -s "$work/local/metrics.json" "$work/crash/metrics.json"

# 6. with rollback, n3's cancelled client processes are started again
in_ctl "$slurm_run" "$scn" --nodes 3 --procs-per-node 2 --run-dir "$work/rollback" --timeout 120 \
	--server-arg=--set=run.on_client_loss=rollback \
	--client-arg=--round-delay --client-arg=0.3 >"$work/rollback.out" 2>&1 &
bg+=($!)
runner=$!
step=$(step_of "$work/rollback" n3)
note "cancelling n3's client step $step after round 2, with run.on_client_loss: rollback"
in_ctl scancel "$step"
wait "$runner"
rc=$?
check "the run completes (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/# /' "$work/rollback.out" "$work/rollback/server.log" 2>/dev/null | tail -n 30
check "replacements joined from n3" grep -q "starting a replacement" "$work"/rollback/slurm-*.out
check "events.jsonl has the rollback" grep -q '"event":"rollback"' "$work/rollback/events.jsonl"
check "metrics.json is the one-machine run's" cmp -s "$work/local/metrics.json" "$work/rollback/metrics.json"
finish
