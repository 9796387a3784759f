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
