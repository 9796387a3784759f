# tests/net/lib.sh - TAP helpers for the loopback tests (sourced)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { # check "description" command...
	local what=$1; shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
note() { echo "# $*"; }
finish() { echo "1..$n"; [ "$failed" -eq 0 ]; }
# json_field FILE KEY: the raw value of a top-level key in our flat JSON files
json_field() { sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n1; }
work=$(mktemp -d /tmp/fcl-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
# last_row FILE: the last row of metrics.json's accuracy matrix, space separated
last_row() { awk '/"accuracy_matrix"/ { on = 1; next } on && /^ *\]/ { exit } on { row = $0 } END { gsub(/[][,]/, " ", row); print row }' "$1"; }
# curve_keys DIR: a server and a client key pair in DIR and an allow file with
# the client's key; $server_keys and $client_keys hold the options that use them
curve_keys() {
	mkdir -p "$1" && "$FCL_KEYGEN" "$1/server" >/dev/null && "$FCL_KEYGEN" "$1/client" >/dev/null &&
		cp "$1/client.pub" "$1/allow" || return 1
	server_keys=(--curve-key "$1/server.key" --allow "$1/allow")
	client_keys=(--curve-key "$1/client.key" --server-pub "$1/server.pub")
}
# sim_run SCENARIO NAME [fcl-sim args]: a quiet run into $work/NAME, output in $work/NAME.out
sim_run() { "$FCL_SIM" "$1" --quiet --run-dir "$work/$2" "${@:3}" >"$work/$2.out" 2>&1; }
# check_layouts SCENARIO WHAT: runs it on 1 and 3 client processes ($work/one,
# $work/three) and checks both give the same metrics.json and eval.csv bytes, a
# complete run, and a final accuracy above 0.2 (the model learned something)
check_layouts() {
	check "$2 runs on 1 process" sim_run "$1" one --procs 1
	check "$2 runs on 3 processes" sim_run "$1" three --procs 3
	for r in one three; do
		[ -s "$work/$r/metrics.json" ] || cat "$work/$r.out" "$work/$r"/*.log 2>/dev/null | tail -n 30 | sed 's/^/# /'
	done
	note "checksums: 1 process $(json_field "$work/one/metrics.json" params_checksum)," \
		"3 processes $(json_field "$work/three/metrics.json" params_checksum)"
	check "metrics.json is complete" grep -q '"complete": true' "$work/one/metrics.json"
	check "1 and 3 processes give byte-identical metrics.json" \
		cmp -s "$work/one/metrics.json" "$work/three/metrics.json"
	check "eval.csv is identical across layouts" cmp -s "$work/one/eval.csv" "$work/three/eval.csv"
	check "$2 learned something (final accuracy above chance)" \
		awk -v a="$(json_field "$work/one/metrics.json" final_avg_acc)" 'BEGIN { exit !(a > 0.2) }'
}
