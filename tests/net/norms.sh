#!/usr/bin/env bash
# Normalisation layers (issue 11) end to end: a small CNN with batchnorm,
# groupnorm and dropout under model.batchnorm: local (FedBN) gives
# byte-identical metrics.json whether its 5 clients live in 1 process or 3
# (each client's own batchnorm values and dropout masks do not depend on the
# process that trains it); the fedavg policy runs and gives another model.
# With local models evaluated, FedBN's per-client accuracy (the global model
# with each client's own batchnorm values, docs/metrics.md "FedBN") is in
# metrics.json and eval.csv, and is not the global model's.
. "$(dirname "$0")/lib.sh"
not_in() { ! grep -q "$1" "$2"; }
scn=$FCL_TESTS/scenarios/cnn-bn.yaml
check_layouts "$scn" "the batchnorm CNN (local)"
m=$work/one/metrics.json
note "FedBN: mean $(json_field "$m" fedbn_mean) over $(json_field "$m" fedbn_clients) clients," \
	"global model $(json_field "$m" final_avg_acc)"
check "metrics.json has FedBN's per-client accuracy of all 5 clients" \
	test "$(json_field "$m" fedbn_clients)" = 5
# fedbn_rows ROUND MODEL...: each model's mean over the tasks of its eval.csv rows
fedbn_rows() { awk -F, -v r="$1" '$1 == r && $2 ~ /^(global|fedbn-)/ && $3 != "seen" { s[$2] += $4; n[$2]++ }
	END { for (k in s) printf "%s %.6f\n", k, s[k] / n[k] }' "$work/one/eval.csv" | sort; }
last=$(awk -F, 'END { print $1 }' "$work/one/eval.csv")
fedbn_rows "$last" >"$work/rows"
check "eval.csv has a fedbn row per client at the last evaluation" test "$(grep -c '^fedbn-' "$work/rows")" -eq 5
check "fedbn_mean, min and max are those of the eval.csv rows" awk -v mean="$(json_field "$m" fedbn_mean)" \
	-v lo="$(json_field "$m" fedbn_min)" -v hi="$(json_field "$m" fedbn_max)" '
	/^fedbn-/ { s += $2; k++; if (k == 1 || $2 < l) l = $2; if (k == 1 || $2 > h) h = $2 }
	function off(a, b) { return a - b > 2e-6 || b - a > 2e-6 }
	END { exit !(k == 5 && !off(s / k, mean) && !off(l, lo) && !off(h, hi)) }' "$work/rows"
check "the clients' own batchnorm values give other accuracies than the global model's" \
	awk '$1 == "global" { g = $2 } /^fedbn-/ { d += ($2 != g) } END { exit !(d >= 1) }' "$work/rows"
sed 's/batchnorm: local/batchnorm: fedavg/' "$scn" >"$work/fedavg.yaml"
check "the fedavg policy runs on 2 processes" sim_run "$work/fedavg.yaml" fedavg --procs 2
check "... completes" grep -q '"complete": true' "$work/fedavg/metrics.json"
check "... and gives another global model than local" \
	test "$(json_field "$work/fedavg/metrics.json" params_checksum)" != \
	"$(json_field "$work/one/metrics.json" params_checksum)"
check "... and no FedBN record (no client keeps batchnorm values of its own)" \
	not_in fedbn "$work/fedavg/metrics.json"
finish
