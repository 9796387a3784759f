#!/usr/bin/env bash
# docs/extending.md quotes the example files whole: every block marked
# "<!-- file: PATH -->" must equal PATH byte for byte, so the walkthrough is
# the code that test_examples builds and runs.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
doc=$root/docs/extending.md
n=0 failed=0
blocks=$(grep -c '^<!-- file: ' "$doc")
while read -r path; do
	n=$((n + 1))
	quoted=$(awk -v p="$path" '
		$0 == "<!-- file: " p " -->" { want = 1; next }
		want && /^```c$/ { on = 1; want = 0; next }
		on && /^```$/ { exit }
		on { print }' "$doc")
	if [ "$quoted" = "$(cat "$root/$path")" ]; then
		echo "ok $n - docs/extending.md quotes $path"
	else
		echo "not ok $n - docs/extending.md differs from $path"
		diff <(echo "$quoted") "$root/$path" | head -n 10 | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done < <(sed -n 's/^<!-- file: \(.*\) -->$/\1/p' "$doc")
n=$((n + 1))
if [ "$blocks" -ge 2 ]; then echo "ok $n - $blocks quoted files"; else
	echo "not ok $n - expected the rule and the strategy quoted (found $blocks)"
	failed=$((failed + 1))
fi
echo "1..$n"
[ "$failed" -eq 0 ]
