# lib.sh: shared by the end-to-end scripts. Sourced, not run.
# ROTOR_BIN, ROTOR_SOURCE_DIR and ROTOR_PYTHON come from CTest.
set -u
: "${ROTOR_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${ROTOR_BIN:=$ROTOR_SOURCE_DIR/build/test/rotor}"
: "${ROTOR_PYTHON:=python3}"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# git_identity [EMAIL]: the commits a test makes get a fixed author and
# committer (with fixed dates too, their ids are the same on every run).
git_identity() {
	export GIT_AUTHOR_NAME=rotor-test GIT_AUTHOR_EMAIL=${1:-test@example.invalid}
	export GIT_COMMITTER_NAME=rotor-test GIT_COMMITTER_EMAIL=${1:-test@example.invalid}
}
# git_app_repo DIR: a new repository (branch main) holding one manifest,
# aws/app.yaml (user raxx-app on aws-prod, stored in infisical-main),
# added to nothing yet: the caller commits it its own way.
git_app_repo() {
	mkdir -p "$1/aws"
	git -C "$1" init -q -b main
	cat >"$1/aws/app.yaml" <<'YAML'
apiVersion: rotor/v1
kind: AccessKeyRotation
metadata: {name: app}
spec:
  user: raxx-app
  aws: aws-prod
  store:
    infisical: {connection: infisical-main, projectId: p1, environment: prod, secretPath: /app}
YAML
}
wait_for() { # SECONDS CONDITION: polls CONDITION (eval'd) twice a second
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt "$end" ]; do
		eval "$2" && return 0
		sleep 0.5
	done
	echo "# waited $1 s in vain for: $2"
	return 1
}

# check LABEL CONDITION: ok when CONDITION (eval'd) holds; else not ok, with
# the head of the last command's output ($out) as comments.
check() {
	if eval "$2"; then ok "$1"; else
		not_ok "$1"
		printf '%s\n' "${out:-}" | head -n 12 | sed 's/^/#   /'
	fi
}

# Prints the plain closing line and exits non-zero on any failure, or when
# a Python helper of the world stopped answering (world.sh's world_py).
finish() {
	[ ! -e "${WORLD:-/nonexistent}/.py-lost" ] ||
		not_ok "a Python helper (world_py) stopped answering: the checks that asked it are void"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
