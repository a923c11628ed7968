#!/usr/bin/env bash
# Runs the quickstart in serve mode and pastes the TOKEN= line and the
# three curl lines it prints into bash, as a user would: the admin token,
# submit (which waits for the execution with ?wait=), status, solution. Fails unless
# the status line shows a finished execution and the solution line the
# knapsack's optimal value (90: compass + sandwich in a capacity of 10,
# worked out by hand from the four items in serve.go). Then fetches the
# served /openapi.json with the printed OpenAPI line and validates it with
# an independent validator against the official OpenAPI 3.1 JSON Schema
# (@seriousme/openapi-schema-validator, from the npm registry).
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
token=$(grep '^TOKEN=' "$out")
[[ -n "${token#TOKEN=}" && $(grep -cF -- "${token#TOKEN=}" "$out") == 1 ]] ||
  { cat "$out"; echo "FAIL: the token is not printed exactly once, on a TOKEN= line"; exit 1; }
submit=$(grep '^ID=\$(curl' "$out")
status=$(grep '^curl -s .*/status$' "$out")
data=$(grep '^curl -s .*/data$' "$out")
echo "pasting the token line and the three curl lines"
result=$(bash -c "$token
$submit
echo STATUS \$($status)
echo DATA \$($data)")
echo "$result"
grep -q '^STATUS .*"state":"succeeded"' <<<"$result" || { echo "FAIL: status line"; exit 1; }
grep -q '^DATA .*"value":90' <<<"$result" || { echo "FAIL: solution line"; exit 1; }
echo "quickstart curl lines work"

echo "validating the served OpenAPI document against the official 3.1 schema"
command -v node >/dev/null && command -v npm >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
}
oas=$(mktemp -d)
openapi=$(grep '^OpenAPI: curl' "$out" | sed -E 's/^OpenAPI: (curl .*openapi\.json).*/\1/')
bash -c "$token
$openapi" >"$oas/openapi.json"
(cd "$oas" && npm install --silent --no-audit --no-fund @seriousme/openapi-schema-validator@2.11.0 >/dev/null)
cat >"$oas/check.mjs" <<'JS'
import { Validator } from "@seriousme/openapi-schema-validator";
const v = new Validator();
const res = await v.validate("./openapi.json");
console.log(`OpenAPI ${v.version} document valid: ${res.valid}`);
if (!res.valid) { console.log(JSON.stringify(res.errors, null, 1)); process.exit(1); }
JS
(cd "$oas" && node check.mjs)
rm -rf "$oas"
