#!/usr/bin/env bash
# Relative paths in a scenario resolve against its file's folder, in the
# coordinator and in every client (the welcome carries the coordinator's data
# folder), whatever the working directory fcl-sim runs in. A client process that
# exits before the run begins stops the run at once, with its own message,
# instead of leaving the coordinator to wait for its join timeout.
. "$FCL_TESTS/net/lib.sh"
data=/usr/share/datasets/fashion-mnist
mkdir -p "$work/scenarios/data" "$work/elsewhere"
ln -s "$data" "$work/scenarios/data/fashion"
cat >"$work/scenarios/relative.yaml" <<'YAML'
name: relative-path
seed: 1
data:
  dataset: fashion-mnist
  path: data/fashion          # relative to this file's folder
  train_limit: 3000
  test_limit: 1000
model: {hidden: [16]}
clients: {count: 4, partition: iid, per_round: 2}
tasks: {generator: class-incremental, count: 2, classes_per_task: 2, rounds_per_task: 2}
train: {local_epochs: 1, batch_size: 32, lr: 0.05}
run: {round_timeout: 60, join_timeout: 60}
YAML

# 1. From another working directory, with a relative scenario path.
(cd "$work/elsewhere" && "$FCL_SIM" ../scenarios/relative.yaml --procs 2 --quiet --run-dir run) \
	>"$work/rel.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || tail -n 20 "$work/rel.out" "$work/elsewhere/run"/*.log 2>/dev/null | sed 's/^/# /'
check "a scenario with a relative data.path runs from another working directory" test "$rc" -eq 0
check "... and completes" grep -q '"complete": true' "$work/elsewhere/run/metrics.json"
check "... its clients loaded the data from the scenario's folder (no error in their logs)" \
	bash -c "! grep -qi 'error' '$work/elsewhere/run'/client-*.log"

# 2. The same from the scenario's own folder gives the same results.
(cd "$work/scenarios" && "$FCL_SIM" relative.yaml --procs 1 --quiet --run-dir "$work/here") \
	>"$work/here.out" 2>&1
check "... and the same metrics.json when run from the scenario's folder" \
	cmp -s "$work/elsewhere/run/metrics.json" "$work/here/metrics.json"

# 3. Client processes that fail at once (here: an option they refuse): fcl-sim
#    stops the run with the client's own message, long before the 60 s join timeout.
t0=$(date +%s.%N)
(cd "$work/elsewhere" && timeout 50 "$FCL_SIM" ../scenarios/relative.yaml --procs 2 \
	--run-dir failing --client-arg=--fault=no-such-fault) >"$work/fail.out" 2>&1
rc=$?
t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
note "fcl-sim with failing clients exited with $rc after $t s (the join timeout is 60 s)"
check "fcl-sim exits non-zero when its clients fail at once" test "$rc" -ne 0 -a "$rc" -ne 124
check "... it names the client process that failed" \
	grep -q "client process [01] (ids [0-9]*-[0-9]*) exited with status 2 before the run began" "$work/fail.out"
check "... and prints the client's own message" grep -q "unknown --fault 'no-such-fault'" "$work/fail.out"
check "... without waiting for the join timeout" \
	bash -c "! grep -q 'join timeout' '$work/elsewhere/failing/server.log' '$work/fail.out'"
finish
