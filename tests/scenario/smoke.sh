#!/usr/bin/env bash
# Every shipped scenario passes fcl-scenario check, and every smoke variant
# (tests/scenarios/smoke/) runs end to end with fcl-sim and leaves a
# complete run folder.
. "$FCL_TESTS/net/lib.sh"
q() { "$@" >>"$work/stdout.txt"; } # keep the TAP stream clean
# A shipped scenario for data that cannot be installed here (CIFAR-100 ...) says
# where to put it; its check is skipped while that folder is absent.
for f in "$FCL_SCENARIOS"/*.yaml; do
	dir=$(sed -n 's/^ *path: *\([^ #]*\).*/\1/p' "$f" | head -n1)
	case $dir in /* | "") ;; *) dir=$(dirname "$f")/$dir ;; esac
	fmt=$(sed -n 's/^ *format: *\(cifar100\|cifar10\|npy\).*/\1/p' "$f" | head -n1)
	if [ -n "$fmt" ] && [ -n "$dir" ] && [ ! -d "$dir" ]; then
		base=$(basename "$f" .yaml)
		case $fmt in
		cifar10 | cifar100)
			# generated files of that format stand in for the data: the
			# scenario parses, loads and compiles as shipped but for data.path
			classes=${fmt#cifar}
			q "$FCL_GEN_DATA" -o "$work/$base-data" --format "$fmt" --classes "$classes" \
				--train 2000 --test 500 --seed 3
			sed "s#^\( *path:\).*#\1 $work/$base-data#" "$f" >"$work/$base.yaml"
			check "fcl-scenario check $base.yaml on generated $fmt files" \
				q "$FCL_SCENARIO" check "$work/$base.yaml"
			check "fcl-scenario show $base.yaml on generated $fmt files" \
				q "$FCL_SCENARIO" show "$work/$base.yaml"
			;;
		*)
			n=$((n + 1))
			echo "ok $n - fcl-scenario check $base.yaml # SKIP its data.path $dir is absent"
			;;
		esac
		continue
	fi
	check "fcl-scenario check $(basename "$f")" q "$FCL_SCENARIO" check "$f"
done
# The fcl-compare command in a scenario's header works as written: under each
# rule it names, the scenario (with aggregation.rule set, as fcl-compare sets
# it) still passes check; the other rules' keys belong in their blocks.
for f in "$FCL_SCENARIOS"/*.yaml; do
	base=$(basename "$f" .yaml)
	src=$f
	[ -s "$work/$base.yaml" ] && src=$work/$base.yaml # its generated-data stand-in
	rules=$(sed -n "s|^#.*fcl-compare scenarios/$base.yaml .*--rules \([a-z,-]*\).*|\1|p" "$f")
	for r in ${rules//,/ }; do
		sed "s/^\(  rule:\) .*/\1 $r/" "$src" >"$work/$base-as-$r.yaml"
		check "$base.yaml's fcl-compare command: the scenario under rule $r checks" \
			q "$FCL_SCENARIO" check "$work/$base-as-$r.yaml"
	done
done
# The CIFAR-100 Si-Blurry scenario on generated CIFAR-100 files at its path
# (random pixels, so only whether it loads, compiles and builds its model),
# with each of its three strategies.
"$FCL_GEN_DATA" -o "$work/c100" --format cifar100 --classes 100 --train 1000 --test 200 \
	--seed 2 >>"$work/stdout.txt"
for m in er uer mvp; do
	sed -e "s|^\( *path:\).*|\1 $work/c100|" -e "s|^\( *name:\) er$|\1 $m|" \
		"$FCL_SCENARIOS/cifar100-si-blurry.yaml" >"$work/c100-$m.yaml"
	check "cifar100-si-blurry with $m: fcl-scenario check on generated files" \
		q "$FCL_SCENARIO" check "$work/c100-$m.yaml"
done
"$FCL_SCENARIO" show "$work/c100-er.yaml" >"$work/c100-show.txt" 2>&1
check "cifar100-si-blurry: show prints resnet18-reduced's 1,154,240 parameters" \
	grep -q "input 3x32x32, 1154240 parameters" "$work/c100-show.txt"
check "cifar100-si-blurry: the last block gives 160 x 4 x 4" \
	grep -q "residual 160 s1 *-> *160 x *4 x *4" "$work/c100-show.txt"
check "cifar100-si-blurry: it compiles" \
	q "$FCL_SCENARIO" compile "$work/c100-er.yaml" -o "$work/c100-compiled"
check "cifar100-si-blurry: 5 Si-Blurry tasks" test "$(wc -l <"$work/c100-compiled/tasks.csv")" -ge 6
for name in quickstart fashion-iid split-fashion split-fashion-til permuted-fashion-fot si-blurry-fashion \
	powerlaw-fashion async-arrival devices-fashion; do
	check "scenarios/$name.yaml is shipped" test -s "$FCL_SCENARIOS/$name.yaml"
	check "$name has a smoke variant" test -s "$FCL_TESTS/scenarios/smoke/$name-smoke.yaml"
done
for f in "$FCL_TESTS"/scenarios/smoke/*.yaml; do
	name=$(basename "$f" .yaml)
	check "fcl-scenario check $name" q "$FCL_SCENARIO" check "$f"
	check "fcl-scenario show $name" q "$FCL_SCENARIO" show "$f"
	t0=$(date +%s.%N)
	"$FCL_SIM" "$f" --procs 2 --quiet --run-dir "$work/$name" >"$work/$name.out" 2>&1
	rc=$?
	note "$name: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')," \
		"final accuracy $(json_field "$work/$name/metrics.json" final_avg_acc)"
	[ "$rc" -eq 0 ] || tail -n 20 "$work/$name.out" "$work/$name"/*.log 2>/dev/null | sed 's/^/# /'
	check "$name runs end to end (fcl-sim exit 0)" test "$rc" -eq 0
	check "$name leaves a complete metrics.json" grep -q '"complete": true' "$work/$name/metrics.json"
	check "$name leaves its compiled schedule" test -s "$work/$name/schedule/timeline.csv"
done
finish
