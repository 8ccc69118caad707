#!/usr/bin/env bash
# The githubActions consumer (issue 20) against the GitHub double, which
# decrypts every sealed box (PyNaCl): one manifest with a repository
# secret, an environment secret, an organisation secret (visibility
# selected) on a token connection, a repository secret through a GitHub
# App installation, and a local env file:
#  - adoption: every target holds the new pair (decrypted by the double),
#    each write recorded with the secrets' updated_at (tag rotor:consumer:NAME);
#  - a pass with nothing to do writes nothing (values cannot be read back:
#    the record and updated_at decide);
#  - a secret changed by someone else is drift, and only it is rewritten;
#  - the App's installation token is fetched once per process and reused;
#  - failures, each leaving the others correct and the old key Active:
#    403 on the write, 404 on the public key, a secondary rate limit
#    (403 with retry-after) waited out; then convergence.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
world_github
case $? in 0) ;; 77) exit 77 ;; *) exit 1 ;; esac
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

github_ctl POST repos '{"full_name": "raxx/api", "environments": ["production"]}' >/dev/null
github_ctl POST repos '{"full_name": "raxx/worker"}' >/dev/null
github_ctl POST orgs '{"name": "raxx"}' >/dev/null
new_case gh raxx-gh '[{"created": "2025-10-01T00:00:00Z"}]'
cat >>"$WORLD/m/gh/gh.yaml" <<'YAML'
    - name: ci
      githubActions: {connection: github-test, repository: raxx/api}
    - name: ci-prod
      githubActions: {connection: github-test, repository: raxx/api, environment: production}
    - name: org
      githubActions: {connection: github-test, organization: raxx, visibility: selected,
                      selectedRepositories: [raxx/api, raxx/worker]}
    - name: worker
      githubActions: {connection: github-app, repository: raxx/worker,
                      accessKeyIdName: DEPLOY_AKID, secretAccessKeyName: DEPLOY_SECRET}
YAML
M=$WORLD/m/gh
# gh EXPR: a Python expression over the GitHub double's state (t = targets)
gh() {
	curl -sS --max-time 10 "$GITHUB_URL/_control/state" |
		"$ROTOR_PYTHON" -c 'import json, sys; d = json.load(sys.stdin); t = d["targets"]; print(eval(sys.argv[1]))' "$1"
}
val() { gh "t[\"$1\"][\"secrets\"].get(\"$2\", {}).get(\"value\", \"\")"; } # TARGET NAME
writes() { gh "sum(s[\"writes\"] for x in t.values() for s in x[\"secrets\"].values())"; }
gh_calls() { # ROUTE: how many calls of that route the double saw
	curl -sS "$GITHUB_URL/_control/calls" | "$ROTOR_PYTHON" -c 'import json, sys; print(sum(1 for c in json.load(sys.stdin)["calls"] if c["route"] == sys.argv[1]))' "$1"
}
all_hold() { # AKID SECRET: every GitHub target holds that pair
	[ "$(val raxx/api AWS_ACCESS_KEY_ID)" = "$1" ] && [ "$(val raxx/api AWS_SECRET_ACCESS_KEY)" = "$2" ] &&
		[ "$(val raxx/api@production AWS_ACCESS_KEY_ID)" = "$1" ] && [ "$(val raxx/api@production AWS_SECRET_ACCESS_KEY)" = "$2" ] &&
		[ "$(val org:raxx AWS_ACCESS_KEY_ID)" = "$1" ] && [ "$(val org:raxx AWS_SECRET_ACCESS_KEY)" = "$2" ] &&
		[ "$(val raxx/worker DEPLOY_AKID)" = "$1" ] && [ "$(val raxx/worker DEPLOY_SECRET)" = "$2" ]
}

run validate --config "$WORLD/rotor.yaml" "$M"
check "the manifest with repository, environment, organisation and App consumers validates" '[ $rc = 0 ]'

printf 'apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: badgh}\nspec:\n  user: x\n  aws: aws-test\n  store:\n    infisical: {connection: infisical-test, projectId: p, environment: prod}\n  consumers:\n    - name: c\n      githubActions: {connection: github-test, repository: raxx/api, accessKeyIdName: deploy_key, secretAccessKeyName: DEPLOY_KEY}\n' >"$WORLD/badgh.yaml"
run validate --config "$WORLD/rotor.yaml" "$WORLD/badgh.yaml"
check "two names that are one GitHub secret (case-insensitive) are refused at validation" \
	'[ $rc = 3 ] && grep -q "\"deploy_key\" and \"DEPLOY_KEY\" are one GitHub secret" <<<"$out"'

# ---- adoption ----------------------------------------------------------------------
run apply "$M"
NEW=$(akid_of gh)
SECRET=$(q secret /gh AWS_SECRET_ACCESS_KEY)
check "adoption: apply exits 0; every target holds the new pair (as the double decrypts it)" \
	'[ $rc = 0 ] && all_hold "$NEW" "$SECRET" && [ "$(env_akid gh)" = "$NEW" ]'
check "the organisation secret went to the selected repositories by numeric id" \
	'[ "$(gh "t[\"org:raxx\"][\"secrets\"][\"AWS_ACCESS_KEY_ID\"][\"selected_repository_ids\"]")" = "[100000, 100001]" ] && [ "$(gh "t[\"org:raxx\"][\"secrets\"][\"AWS_ACCESS_KEY_ID\"][\"visibility\"]")" = selected ]'
out=$(q tag raxx-gh rotor:consumer:ci)
check "each write is recorded with the secrets' updated_at (tag rotor:consumer:ci)" \
	'grep -q "^v1 k=$NEW a=2026-01-01T00:00:00Z s=2026-01-01T00:00:00Z$" <<<"$out"'
W0=$(writes)
run apply "$M"
check "a second pass writes nothing (the record and updated_at say in sync)" \
	'[ $rc = 0 ] && [ "$(writes)" = "$W0" ]'
run status "$M"
check "status: 5/5 consumers hold the key; the GitHub consumers in sync" \
	'grep -q "5/5 consumers hold $NEW" <<<"$out" && grep -q "consumer: ci-prod (githubActions): in sync: raxx/api environment production holds $NEW" <<<"$out"'
T0=$(gh_calls access_tokens)
run status "$M"
check "one installation token per process, reused for all of the App consumer's calls" \
	'[ "$(gh_calls access_tokens)" = $((T0 + 1)) ]'

# ---- a change by someone else ---------------------------------------------------------------
clock_advance 60
github_ctl POST secret '{"target": "raxx/api@production", "name": "AWS_SECRET_ACCESS_KEY", "value": "edited-by-hand"}' >/dev/null
plan "a GitHub secret changed by hand" "$M"
check "plan: the environment secret changed after rotor's write is drift; only it is rewritten" \
	'grep -q "AWS_SECRET_ACCESS_KEY was changed at 2026-01-01T00:01:00Z, after rotor.s write" <<<"$out" && grep -q "propagate *ci-prod" <<<"$out" && [ "$(grep -c "propagate " <<<"$out")" = 1 ]'
W0=$(writes)
run apply "$M"
check "apply rewrites both secrets of that one target (2 writes) and nothing else" \
	'[ $rc = 0 ] && [ "$(writes)" = $((W0 + 2)) ] && all_hold "$NEW" "$SECRET"'

# ---- deactivation and deletion once all hold -----------------------------------------------
clock_advance 7200
run apply "$M"
clock_advance $((2 * 86400))
run apply "$M"
check "the predecessor is deactivated and deleted once every consumer held the new key" \
	'[ "$(nkeys raxx-gh)" = 1 ]'

# ---- failures, each leaving the others correct ------------------------------------------------
fail_case() { # LABEL FAULT_JSON EXPECTED_IN_MESSAGE
	local label=$1
	EXPECT=$3
	github_ctl POST faults "{\"rules\": [$2]}" >/dev/null
	K0=$(akid_of gh)
	clock_advance $((31 * 86400))
	run apply "$M"
	check "$label: apply fails (exit 1) naming the call, the status and GitHub's request id" \
		'[ $rc = 1 ] && grep -q "$EXPECT" <<<"$out" && grep -q "(request [0-9A-F]\{4\}:[0-9A-F:]*)" <<<"$out"'
	K1=$(akid_of gh)
	check "$label: the store, the env file and the other GitHub targets hold the new key; the old key Active" \
		'[ "$K1" != "$K0" ] && [ "$(env_akid gh)" = "$K1" ] && [ "$(val org:raxx AWS_ACCESS_KEY_ID)" = "$K1" ] && [ "$(val raxx/worker DEPLOY_AKID)" = "$K1" ] && [ "$(key_status raxx-gh "$K0")" = Active ]'
	clock_advance 7200
	run apply "$M"
	check "$label: past deactivateAfter the old key stays Active while a consumer lags" \
		'[ "$(key_status raxx-gh "$K0")" = Active ]'
	github_ctl DELETE faults >/dev/null
	run apply "$M"
	check "$label: once GitHub answers, every target holds the new pair" \
		'[ $rc = 0 ] && all_hold "$K1" "$(q secret /gh AWS_SECRET_ACCESS_KEY)"'
	clock_advance 7200
	run apply "$M"
	clock_advance $((2 * 86400))
	run apply "$M"
	check "$label: then the old key goes; invariants hold" \
		'[ "$(nkeys raxx-gh)" = 1 ] && [ -z "$(q inv raxx-gh /gh)" ] && [ "$(q limit_exceeded)" = 0 ]'
}
fail_case "403 on PUT" '{"match": "raxx/api:secret:PUT", "kind": "error", "count": -1, "status": 403, "message": "Resource not accessible by personal access token"}' \
	"GitHub PUT /repos/raxx/api/actions/secrets/AWS_ACCESS_KEY_ID: HTTP 403 (request"
fail_case "404 on the public key" '{"match": "raxx/api@production:public-key", "kind": "error", "count": -1, "status": 404, "message": "Not Found"}' \
	"GitHub GET /repos/raxx/api/environments/production/secrets/public-key: HTTP 404 (request"

# a secondary rate limit (403 with retry-after) is waited out
github_ctl POST faults '{"rules": [{"match": "secret:PUT", "kind": "throttle", "count": 1}]}' >/dev/null
github_ctl POST secret '{"target": "raxx/api", "name": "AWS_ACCESS_KEY_ID", "value": "AKIAEDITEDBYHAND0000"}' >/dev/null
run apply "$M"
check "a secondary rate limit (403, retry-after) is waited out: in sync after one pass" \
	'[ $rc = 0 ] && all_hold "$(akid_of gh)" "$(q secret /gh AWS_SECRET_ACCESS_KEY)"'
github_ctl DELETE faults >/dev/null

# a bad token: observation names GitHub's 401
GITHUB_TOKEN_TEST=not-the-token run plan "$M"
check "a rejected token: plan names GitHub's 401 Bad credentials and the fix" \
	'grep -q "HTTP 401 (request [^)]*): the connection.s token is invalid or expired.*Bad credentials" <<<"$out"'

# a consumer leaves the manifest: its record tag is forgotten (tags never fill up)
check "the environment consumer has a record tag" '[ -n "$(q tag raxx-gh rotor:consumer:ci-prod)" ]'
"$ROTOR_PYTHON" - "$M/gh.yaml" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines(True)
out, skip = [], 0
for l in lines:
    if l.strip() == "- name: ci-prod":
        skip = 2  # its line and the githubActions line
    if skip:
        skip -= 1
        continue
    out.append(l)
open(p, "w").write("".join(out))
PY
plan "a consumer removed" "$M"
check "plan: forget the record of the consumer that left" 'grep -q "forget rotor.s record of consumer ci-prod: it is no longer in the manifest" <<<"$out"'
run apply "$M"
check "apply removes its tag" '[ $rc = 0 ] && [ -z "$(q tag raxx-gh rotor:consumer:ci-prod)" ] && [ -n "$(q tag raxx-gh rotor:consumer:ci)" ]'

check "invariants hold at the end" '[ -z "$(q inv raxx-gh /gh)" ] && [ "$(q limit_exceeded)" = 0 ]'
q secrets >>"$WORLD/secrets.seen"
no_secret_leaked
finish
