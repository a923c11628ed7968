#!/usr/bin/env bash
# Runs the quickstart in serve mode and pastes the three curl lines it
# prints into bash, as a user would: submit, status, solution. Fails unless
# the status line shows a finished execution and the solution line the
# knapsack's optimal value (90: compass + sandwich in a capacity of 10,
# worked out by hand from the four items in serve.go).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "curl is required"; exit 1; }
out=$(mktemp)
go build -o /tmp/quickstart-ci ./examples/quickstart
/tmp/quickstart-ci -addr 127.0.0.1:0 >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 300); do
  grep -q '^curl -s .*/data$' "$out" && break
  kill -0 $pid 2>/dev/null || { cat "$out"; echo "quickstart exited"; exit 1; }
  sleep 0.2
done
submit=$(grep '^ID=\$(curl' "$out")
status=$(grep '^curl -s .*/status$' "$out")
data=$(grep '^curl -s .*/data$' "$out")
echo "pasting the three printed lines"
result=$(bash -c "$submit
sleep 1
echo STATUS \$($status)
echo DATA \$($data)")
echo "$result"
grep -q '^STATUS .*"state":"succeeded"' <<<"$result" || { echo "FAIL: status line"; exit 1; }
grep -q '^DATA .*"value":90' <<<"$result" || { echo "FAIL: solution line"; exit 1; }
echo "quickstart curl lines work"
