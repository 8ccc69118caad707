#!/usr/bin/env bash
# `rotor discover` (issue 21) against the IAM double, with ListUsers paged
# two users at a time:
#  - every user (paged), each key's age, status and last use, and which
#    manifest manages the user; unmanaged users with keys older than the
#    threshold first, the oldest first;
#  - --path-prefix, --older-than, and the four formats (json parsed, csv
#    rows, markdown table, text);
#  - read-only: no mutating call reaches IAM;
#  - --scaffold: one valid manifest per unmanaged user with keys (observe
#    mode, the store path from the template), never over an existing file;
#  - a key whose last use cannot be read: reported on that user, exit 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

used() { printf '"last_used": {"date": "%s", "service": "%s", "region": "eu-west-1"}' "$1" "$2"; }
aws_ctl POST users "{\"name\": \"raxx-old1\", \"path\": \"/ci/\", \"keys\": [{\"created\": \"2025-06-01T00:00:00Z\", $(used 2025-12-30T10:00:00Z s3)}]}" >/dev/null
aws_ctl POST users '{"name": "raxx-old2", "keys": [{"created": "2025-01-01T00:00:00Z"}]}' >/dev/null
aws_ctl POST users "{\"name\": \"raxx-new\", \"keys\": [{\"created\": \"2025-12-20T00:00:00Z\", $(used 2025-12-31T00:00:00Z sqs)}]}" >/dev/null
aws_ctl POST users '{"name": "raxx-nokeys", "keys": []}' >/dev/null
aws_ctl POST users '{"name": "raxx-two", "keys": [{"created": "2025-03-01T00:00:00Z", "status": "Inactive"}, {"created": "2025-12-01T00:00:00Z"}]}' >/dev/null
new_case managed raxx-managed '[{"created": "2024-12-01T00:00:00Z"}]'
aws_ctl POST users '{"name": "raxx.dup", "keys": [{"created": "2025-12-30T00:00:00Z"}]}' >/dev/null
aws_ctl POST users '{"name": "raxx-dup", "keys": [{"created": "2025-12-30T00:00:00Z"}]}' >/dev/null
SEQ=$(q seq)

run discover --aws aws-test --page-size 2 --format json "$WORLD/m/managed"
printf '%s\n' "$out" >"$WORLD/discover.json"
check "discover --format json exits 0 and is JSON" \
	'[ $rc = 0 ] && "$ROTOR_PYTHON" -m json.tool "$WORLD/discover.json" >/dev/null'
J() { "$ROTOR_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); u = {x["user"]: x for x in d["users"]}; print(eval(sys.argv[2]))' "$WORLD/discover.json" "$1"; }
check "every user is listed (9 with rotor's own), though ListUsers answered two at a time" \
	'[ "$(J "len(d[\"users\"])")" = 9 ] && [ "$(q calls $SEQ | grep -c "IAM ListUsers")" = 5 ]'
check "unmanaged users with keys older than 90d first, the oldest key first" \
	'[ "$(J "[x[\"user\"] for x in d[\"users\"]][:3]")" = "['"'"'raxx-old2'"'"', '"'"'raxx-two'"'"', '"'"'raxx-old1'"'"']" ]'
check "the managed user names its manifest; the new and the keyless ones come after" \
	'[ "$(J "u[\"raxx-managed\"][\"managedBy\"]")" = managed ] && [ "$(J "u[\"raxx-new\"][\"unmanagedOld\"]")" = False ] && [ "$(J "[x[\"user\"] for x in d[\"users\"]][-1]")" = raxx-nokeys ]'
check "each key: status, age and last use (time, service, region)" \
	'[ "$(J "u[\"raxx-old1\"][\"keys\"][0][\"lastUsedService\"]")" = s3 ] && [ "$(J "u[\"raxx-old1\"][\"keys\"][0][\"lastUsed\"]")" = 2025-12-30T10:00:00Z ] && [ "$(J "u[\"raxx-old2\"][\"keys\"][0][\"lastUsed\"]")" = None ] && [ "$(J "[k[\"status\"] for k in u[\"raxx-two\"][\"keys\"]]")" = "['"'"'Inactive'"'"', '"'"'Active'"'"']" ] && [ "$(J "u[\"raxx-old2\"][\"keys\"][0][\"ageSeconds\"] // 86400")" = 365 ]'
out=$(q writes $SEQ)
check "read-only: no mutating call reached IAM or Infisical" '[ -z "$out" ]'

run discover --all --page-size 3 --format json "$WORLD/m/managed"
check "--all walks every AWS connection of the config (here one): the same users" \
	'[ $rc = 0 ] && [ "$("$ROTOR_PYTHON" -c "import json,sys; print(sorted(u[\"user\"] for u in json.load(sys.stdin)[\"users\"]))" <<<"$out")" = "$(J "sorted(u)")" ]'
run discover --aws aws-test --path-prefix /ci/ --format csv
check "--path-prefix /ci/ and csv: a header and raxx-old1's one key" \
	'[ $rc = 0 ] && [ "$(wc -l <<<"$out")" = 2 ] && grep -q "^connection,user,path,managed_by" <<<"$out" && grep -q "^aws-test,raxx-old1,/ci/,,true,AKIA" <<<"$out"'
run discover --aws aws-test --older-than 400d --format markdown "$WORLD/m/managed"
check "markdown: a table; with --older-than 400d nothing is flagged" \
	'[ $rc = 0 ] && grep -q "^| | connection | user |" <<<"$out" && ! grep -q "^| :warning:" <<<"$out"'
run discover --aws aws-test "$WORLD/m/managed"
check "text: a summary line and the flagged users marked !" \
	'[ $rc = 0 ] && grep -q "^9 users, 8 with access keys; 3 unmanaged with a key older than 90d" <<<"$out" && grep -q "^! aws-test/raxx-old2" <<<"$out"'

# ---- --scaffold ------------------------------------------------------------------------
mkdir -p "$WORLD/scaffold"
printf '# mine\n' >"$WORLD/scaffold/raxx-old2.yaml"
run discover --aws aws-test --scaffold "$WORLD/scaffold" --project "$PROJECT" --environment prod \
	--store-path '/aws/{path}/{user}' "$WORLD/m/managed"
check "scaffold: one manifest per unmanaged user with keys; an existing file kept" \
	'[ $rc = 0 ] && [ "$(ls "$WORLD/scaffold" | wc -l)" = 7 ] && [ "$(cat "$WORLD/scaffold/raxx-old2.yaml")" = "# mine" ] && grep -q "raxx-old2.yaml exists: not overwritten" <<<"$out" && [ ! -e "$WORLD/scaffold/raxx-managed.yaml" ] && [ ! -e "$WORLD/scaffold/raxx-nokeys.yaml" ]'
check "raxx.dup and raxx-dup map to one name: the second gets -2, nothing is lost" \
	'[ -e "$WORLD/scaffold/raxx-dup.yaml" ] && [ -e "$WORLD/scaffold/raxx-dup-2.yaml" ] && [ "$(cat "$WORLD/scaffold/raxx-dup.yaml" "$WORLD/scaffold/raxx-dup-2.yaml" | grep -c "^  user: \"raxx[.-]dup\"$")" = 2 ]'
check "scaffolded manifests: observe mode, the store path from the template" \
	'grep -q "^  mode: observe$" "$WORLD/scaffold/raxx-old1.yaml" && grep -q "secretPath: \"/aws/ci/raxx-old1\"" "$WORLD/scaffold/raxx-old1.yaml" && grep -q "secretPath: \"/aws/raxx-new\"" "$WORLD/scaffold/raxx-new.yaml"'
rm "$WORLD/scaffold/raxx-old2.yaml"
run validate --config "$WORLD/rotor.yaml" "$WORLD/scaffold"
check "the scaffolded manifests pass rotor validate --config" '[ $rc = 0 ]'
run plan "$WORLD/scaffold/raxx-old1.yaml"
check "and plan them in observe mode (the adoption shown, marked observe)" \
	'grep -q "raxx-old1" <<<"$out" && grep -q "observe" <<<"$out"'

# ---- a user whose keys cannot be read: reported, exit 1 ----------------------------------
aws_ctl POST faults '{"rules": [{"match": "GetAccessKeyLastUsed", "kind": "error", "count": -1, "status": 403, "code": "AccessDenied", "message": "not allowed"}]}' >/dev/null
run discover --aws aws-test --path-prefix /ci/
check "a last use that cannot be read: said on the user (the remote's code), exit 1" \
	'[ $rc = 1 ] && grep -q "could not read its keys: .*AccessDenied" <<<"$out"'
aws_ctl DELETE faults >/dev/null

run discover --aws nope
check "an unknown connection: a usage error naming it" '[ $rc = 2 ] && grep -q "no aws connection named \"nope\"" <<<"$out"'
run discover --all --older-than 90x
check "a bad --older-than: a usage error" '[ $rc = 2 ] && grep -q "older-than" <<<"$out"'
no_secret_leaked
finish
