#!/usr/bin/env bash
# The shipped examples (manifests/ and manifests/rotor.yaml) must validate,
# with and without the config, and `validate` must say when it skipped the
# config. Also checks exit statuses for usage errors and --format json.
source "$(dirname "$0")/lib.sh"
cd "$ROTOR_SOURCE_DIR" || exit 1
export INFISICAL_CLIENT_ID=x INFISICAL_CLIENT_SECRET=x HEROKU_API_KEY=x GITHUB_TOKEN=x \
	ROTOR_EXTERNAL_ID=x ROTOR_PROD_EXTERNAL_ID=x GIT_TOKEN=x
unset ROTOR_CONFIG
n=$(find manifests -name '*.yaml' ! -name rotor.yaml -exec grep -c '^kind: AccessKeyRotation' {} + |
	awk -F: '{s += $NF} END {print s}')

out=$("$ROTOR_BIN" validate --config manifests/rotor.yaml manifests/ 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = "$n manifests OK" ]; then ok "examples with config: $out"
else not_ok "examples with config (exit $rc): $out"; fi

out=$("$ROTOR_BIN" validate manifests/ 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q "^note: no --config" <<<"$out" && grep -q "skipped: this is a controller config" <<<"$out" &&
	grep -q "^$n manifests OK, 1 warning$" <<<"$out"; then ok "examples without config"
else not_ok "examples without config (exit $rc): $out"; fi

out=$(ROTOR_CONFIG=manifests/rotor.yaml "$ROTOR_BIN" validate manifests/ 2>&1)
if [ "$out" = "$n manifests OK" ]; then ok "\$ROTOR_CONFIG is honoured"
else not_ok "\$ROTOR_CONFIG: $out"; fi

"$ROTOR_BIN" validate --format yaml manifests/ >/dev/null 2>&1
rc=$?
if [ $rc = 2 ]; then ok "bad --format is a usage error"; else not_ok "bad --format exit $rc"; fi

"$ROTOR_BIN" validate >/dev/null 2>&1
rc=$?
if [ $rc = 2 ]; then ok "no PATH and no source is a usage error"; else not_ok "no PATH exit $rc"; fi

"$ROTOR_BIN" validate --bogus >/dev/null 2>&1
rc=$?
if [ $rc = 2 ]; then ok "unknown flag is a usage error"; else not_ok "unknown flag exit $rc"; fi

"$ROTOR_BIN" validate /nonexistent/path >/dev/null 2>&1
rc=$?
if [ $rc = 3 ]; then ok "missing path is invalid input"; else not_ok "missing path exit $rc"; fi

json=$("$ROTOR_BIN" validate --format json testdata/invalid/many-errors-one-file/manifest.yaml)
rc=$?
if [ $rc = 3 ] && "$ROTOR_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
assert d["valid"] is False and d["errors"] >= 4, d
assert all({"file", "line", "column", "severity", "message"} <= set(x) for x in d["diagnostics"])
assert d["diagnostics"][0]["line"] > 0
' <<<"$json"; then ok "--format json"
else not_ok "--format json (exit $rc): $json"; fi
finish
