#!/usr/bin/env bash
# Every program's command line follows one convention: --help documents every
# option the program accepts and the exit statuses, --version gives the build's
# version (meson.project_version and git describe), an unknown option is named
# in the same words everywhere and exits 2; each installed program has a man
# page that documents every option. (FCL_BIN_<name>: the programs; FCL_SRC:
# the source tree; FCL_VERSION: meson.project_version.)
. "$(dirname "$0")/../net/lib.sh"

# The options a program accepts, from its source: long options of a getopt
# table, "--name" strings of a hand-written parser, case patterns of a script.
options_of() { # options_of SOURCE
	case $1 in
	*.c) grep -o -e '{"[a-z][a-z-]*", *\(no\|required\)_argument' -e '"--[a-z][a-z-]*"' "$1" ;;
	*) grep -o -e '^[[:space:]]*\(-[a-z] | \)\{0,1\}--[a-z][a-z-]*\( | -[a-z]\)\{0,1\}\(=\*\)\{0,1\})' "$1" ;;
	esac | grep -o -e '--[a-z][a-z-]*' -e '{"[a-z][a-z-]*' | sed 's/^{"/--/' | sort -u
}
declare -A sources=(
	[fcl-server]="server/main.c"
	[fcl-client]="client/cli.c"
	[fcl-sim]="tools/sim/args.c"
	[fcl-scenario]="tools/fcl-scenario.c"
	[fcl-compare]="tools/fcl-compare.c"
	[fcl-bench-train]="tools/bench-train.c"
	[fcl-report]="tools/fcl-report"
	[fcl-slurm]="tools/fcl-slurm"
)
bin_of() { local v="FCL_BIN_${1//-/_}"; echo "${!v}"; }
for prog in fcl-server fcl-client fcl-sim fcl-scenario fcl-compare fcl-bench-train fcl-report fcl-slurm; do
	bin=$(bin_of "$prog")
	src=${sources[$prog]}
	opts=$(cd "$FCL_SRC" && options_of $src)
	[ -n "$opts" ] || { not_ok "$prog: the options of $src were found"; continue; }
	"$bin" --help >"$work/$prog.help" 2>"$work/$prog.help.err"
	check "$prog --help exits 0" test $? -eq 0
	check "... on stdout, with a usage line" grep -q "usage: $prog\|^ *\(tools/\)\{0,1\}$prog " "$work/$prog.help"
	check "... and the exit statuses" grep -qi "exit status" "$work/$prog.help"
	missing=""
	for o in $opts; do grep -q -- "$o\b" "$work/$prog.help" || missing="$missing $o"; done
	check "... documents every option ($(echo $opts | wc -w))${missing:+, missing:$missing}" test -z "$missing"
	ver=$("$bin" --version 2>&1)
	check "$prog --version: $ver" bash -c "[[ '$ver' =~ ^$prog\ $FCL_VERSION\ \(git\ [^\)]+\)$ ]]"
	"$bin" --nosuch-option >"$work/$prog.unk" 2>&1
	rc=$?
	check "$prog --nosuch-option exits 2" test "$rc" -eq 2
	check "... saying \"$prog: unknown option '--nosuch-option' (see $prog --help)\"" \
		grep -qx "$prog: unknown option '--nosuch-option' (see $prog --help)" "$work/$prog.unk"
	man=$FCL_SRC/man/$prog.1.scd
	if [ -e "$man" ]; then
		missing=""
		for o in $opts; do grep -q -- "\*$o\*" "$man" || missing="$missing $o"; done
		check "man/$prog.1.scd documents every option${missing:+, missing:$missing}" test -z "$missing"
	fi
done
# --help prints and does not measure
check "fcl-bench-train --help does not run the benchmark" \
	bash -c "! grep -q 'GFLOP/s (peak' '$work/fcl-bench-train.help'"
for p in fcl-sim fcl-server fcl-client fcl-scenario fcl-compare fcl-report; do
	check "installed $p has a man page" test -s "$FCL_SRC/man/$p.1.scd"
done
# the same error, the same words: a bad --seed
for prog in fcl-sim fcl-server fcl-scenario; do
	case $prog in fcl-scenario) args=(show x.yaml --seed abc) ;; *) args=(x.yaml --run-dir "$work/r" --seed abc) ;; esac
	"$(bin_of "$prog")" "${args[@]}" >"$work/seed.out" 2>&1
	check "$prog: a bad --seed exits 2 in the common words" \
		grep -q "^$prog: option '--seed' wants an integer >= 0 (got 'abc')$" "$work/seed.out"
done
finish
