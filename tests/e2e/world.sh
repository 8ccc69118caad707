# world.sh: a small world for end-to-end runs and the demo — the IAM/STS
# and Infisical doubles on loopback sharing one settable clock with rotor,
# a controller config, and helpers to look at IAM and the store directly.
# Sourced, not run. Needs ROTOR_SOURCE_DIR, ROTOR_PYTHON; sets WORLD.
#
#   world_start [START_TIME]   start both doubles, write $WORLD/rotor.yaml
#   world_stop                 stop them (on exit the world dir is removed too,
#                              unless KEEP_WORLD=1)
#   clock_set TIME / clock_advance SECONDS / clock_now
#   aws_ctl METHOD ROUTE [JSON] / inf_ctl METHOD ROUTE [JSON]
#   iam_keys USER             "AKIA... Active" lines, as IAM (the double) has them
#   store_akid                the access key id the store holds
#   free_port                 a loopback TCP port free now
#   world_heroku / world_github / world_sshd / world_receiver
#                             more remotes, each with its connection in rotor.yaml

MANAGER_AKID=AKIAROTORMANAGER0001
MANAGER_SECRET=rotor-manager-secret-0000000000000000000
INF_CLIENT_ID=rotor-machine-identity
INF_CLIENT_SECRET=rotor-machine-identity-secret-000000000
PROJECT=6a1c2f3e-8b9d-4c1a-9e2f-3d4c5b6a7e8f

_start_double() { # NAME SCRIPT ARGS... -> sets ${NAME}_URL
	local name=$1 script=$2
	shift 2
	"${DOUBLE_PYTHON:-$ROTOR_PYTHON}" "$ROTOR_SOURCE_DIR/tests/doubles/$script" --port 0 --lifetime 900 \
		--clock-file "$WORLD/clock" "$@" >"$WORLD/$name.out" 2>"$WORLD/$name.err" &
	local pid=$!
	echo "$pid" >>"$WORLD/pids"
	for _ in $(seq 1 500); do # it announces its port once it listens: poll for that
		local port
		port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$WORLD/$name.out" 2>/dev/null)
		if [ -n "$port" ]; then
			printf -v "${name}_URL" 'http://127.0.0.1:%s' "$port"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	echo "world: $script did not start: $(cat "$WORLD/$name.err")" >&2
	return 1
}

# free_port: a TCP port free on loopback now (for a server the test starts)
free_port() { "$ROTOR_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# world_receiver: tests/e2e/receiver.py on loopback, each request it gets
# a JSON line in $RLOG; sets RPORT.
world_receiver() {
	RLOG=$WORLD/received.jsonl
	: >"$RLOG"
	"$ROTOR_PYTHON" "$ROTOR_SOURCE_DIR/tests/e2e/receiver.py" --port 0 --lifetime 300 --log "$RLOG" >"$WORLD/receiver.out" 2>&1 &
	echo $! >>"$WORLD/pids"
	for _ in $(seq 1 100); do grep -q '^PORT' "$WORLD/receiver.out" && break; sleep 0.05; done
	RPORT=$(sed -n 's/^PORT //p' "$WORLD/receiver.out")
	[ -n "$RPORT" ]
}

_ctl() { # URL METHOD ROUTE [JSON]
	curl -sS --max-time 20 -X "$2" -H 'Content-Type: application/json' \
		${4:+--data "$4"} "$1/_control/$3"
}
aws_ctl() { _ctl "$AWS_URL" "$@"; }
inf_ctl() { _ctl "$INF_URL" "$@"; }

clock_set() { printf '%s\n' "$1" >"$WORLD/clock"; }
clock_now() { cat "$WORLD/clock"; }
# Whole seconds with date(1), which starts far quicker than Python (the
# crash matrix moves the clock a hundred times); a fraction falls back
# to Python.
clock_advance() {
	local t
	if [[ $1 =~ ^-?[0-9]+$ ]] && t=$(date -u -d "$(clock_now)" +%s 2>/dev/null); then
		date -u -d "@$((t + $1))" +%Y-%m-%dT%H:%M:%SZ >"$WORLD/clock.tmp" &&
			mv -f "$WORLD/clock.tmp" "$WORLD/clock"
		return
	fi
	"$ROTOR_PYTHON" - "$WORLD/clock" "$1" <<'PY'
import datetime, sys
path, secs = sys.argv[1], float(sys.argv[2])
t = datetime.datetime.strptime(open(path).read().strip(), "%Y-%m-%dT%H:%M:%SZ")
t += datetime.timedelta(seconds=secs)
open(path + ".tmp", "w").write(t.strftime("%Y-%m-%dT%H:%M:%SZ") + "\n")
import os; os.replace(path + ".tmp", path)
PY
}

iam_keys() {
	aws_ctl GET state | "$ROTOR_PYTHON" -c '
import json, sys
user = sys.argv[1]
for u in json.load(sys.stdin)["users"]:
    if u["name"] == user:
        for k in u["keys"]:
            print(k["access_key_id"], k["status"])' "$1"
}

store_akid() {
	inf_ctl GET state | "$ROTOR_PYTHON" -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        if o.get("secretKey") == "AWS_ACCESS_KEY_ID":
            vs = o.get("versions") or []
            print(o.get("secretValue") or (vs[-1].get("secretValue") if vs else ""))
            return True
        return any(walk(v) for v in o.values())
    if isinstance(o, list):
        return any(walk(v) for v in o)
    return False
walk(json.load(sys.stdin))'
}

# Python helpers kept up for the whole script (tests/e2e/pyserve.py), for
# scripts that would otherwise start Python for every check:
#   world_py_start NAME SCRIPT [PYTHON]
#                                SCRIPT defines main(cmd, args); the helper
#                                gets the caller's environment, and its pid
#                                joins the doubles' (world_stop ends it)
#   world_py NAME CMD ARGS...    one command: its output, and its status as
#                                ours; when the helper is gone, 127, and
#                                lib.sh's finish fails the script (a check
#                                that wants empty output must not pass)
# The pipes are FIFOs opened on plain descriptors, which subshells ($(...),
# pipelines) inherit; they are unlinked once open.
world_py_start() { # NAME SCRIPT [PYTHON]
	local dir pid fin fout
	dir=$(mktemp -d "$WORLD/.py-$1.XXXXXX") && mkfifo "$dir/in" "$dir/out" || return 1
	"${3:-$ROTOR_PYTHON}" -u "$ROTOR_SOURCE_DIR/tests/e2e/pyserve.py" "$2" <"$dir/in" >"$dir/out" &
	pid=$!
	echo "$pid" >>"$WORLD/pids"
	exec {fin}>"$dir/in" {fout}<"$dir/out" # in the order the helper opens them
	rm -rf "$dir"
	printf -v "_WORLD_PY_$1" '%s %s %s' "$pid" "$fin" "$fout"
}

world_py() { # NAME CMD ARGS...
	local v=_WORLD_PY_$1 pid fin fout line
	read -r pid fin fout <<<"${!v:-}"
	shift
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null ||
		! (IFS=$'\x1f' && printf '%s\n' "$*" >&"$fin"); then
		echo "world: the Python helper ${v#_WORLD_PY_} is not running" >&2
		: >"$WORLD/.py-lost"
		return 127
	fi
	while IFS= read -r line <&"$fout"; do
		case $line in
		$'\x1e'rc\ *) return "${line#*rc }" ;;
		esac
		printf '%s\n' "$line"
	done
	echo "world: the Python helper ${v#_WORLD_PY_} ended without answering" >&2
	: >"$WORLD/.py-lost"
	return 127
}

world_stop() {
	[ -f "$WORLD/pids" ] && xargs -r kill <"$WORLD/pids" 2>/dev/null
	rm -f "$WORLD/pids"
}

# On exit: stop the doubles and remove the world (it holds test secrets),
# unless KEEP_WORLD=1 asks to keep it for a post-mortem.
world_exit() {
	world_stop
	[ -n "${KEEP_WORLD:-}" ] || [ -z "${WORLD:-}" ] || rm -rf "$WORLD"
}

world_start() {
	WORLD=${WORLD:-$(mktemp -d /tmp/rotor-world.XXXXXX)}
	mkdir -p "$WORLD/etc"
	clock_set "${1:-2026-01-01T00:00:00Z}"
	trap world_exit EXIT
	_start_double AWS aws_double.py --manager-key "$MANAGER_AKID:$MANAGER_SECRET" || return 1
	_start_double INF infisical_double.py || return 1
	inf_ctl POST projects "{\"id\": \"$PROJECT\", \"environments\": [\"prod\"], \"folders\": {\"prod\": [\"/aws\"]}}" >/dev/null
	inf_ctl POST identities "{\"clientId\": \"$INF_CLIENT_ID\", \"clientSecret\": \"$INF_CLIENT_SECRET\", \"projects\": [{\"projectId\": \"$PROJECT\"}]}" >/dev/null
	cat >"$WORLD/rotor.yaml" <<YAML
apiVersion: rotor/v1
kind: Config
connections:
  aws:
    aws-test:
      region: us-east-1
      endpoints: {iam: "$AWS_URL", sts: "$AWS_URL"}
  infisical:
    infisical-test:
      siteUrl: "$INF_URL"
      clientId: {env: INFISICAL_CLIENT_ID}
      clientSecret: {env: INFISICAL_CLIENT_SECRET}
      requestsPerMinute: 6000
envFiles:
  allowedDirs: [$WORLD/etc]
audit:
  path: $WORLD/audit.jsonl
YAML
	export ROTOR_TEST_TIME="$WORLD/clock" ROTOR_CONFIG="$WORLD/rotor.yaml"
	export AWS_ACCESS_KEY_ID=$MANAGER_AKID AWS_SECRET_ACCESS_KEY=$MANAGER_SECRET
	export AWS_EC2_METADATA_DISABLED=true
	export INFISICAL_CLIENT_ID=$INF_CLIENT_ID INFISICAL_CLIENT_SECRET=$INF_CLIENT_SECRET
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_STS
	export HOME="$WORLD" ROTOR_STATE_DIR="$WORLD/state" # locks: one world, one state dir
}

# world_heroku: the Heroku double too, its connection heroku-test in
# rotor.yaml (token from $HEROKU_API_TOKEN, allowed every app); sets HEROKU_URL.
HEROKU_TOKEN=heroku-test-token-0000000000000000000000
world_heroku() {
	_start_double HEROKU heroku_double.py || return 1
	heroku_ctl POST tokens "{\"token\": \"$HEROKU_TOKEN\", \"apps\": \"*\"}" >/dev/null
	sed -i "/^connections:\$/a\\  heroku:\n    heroku-test:\n      apiUrl: \"$HEROKU_URL\"\n      token: {env: HEROKU_API_TOKEN}\n      timeout: 3s" "$WORLD/rotor.yaml"
	export HEROKU_API_TOKEN=$HEROKU_TOKEN
}
heroku_ctl() { _ctl "$HEROKU_URL" "$@"; }

# world_github: the GitHub double (it decrypts sealed boxes: PyNaCl, which
# Debian's python3-nacl gives /usr/bin/python3), its connections in
# rotor.yaml: github-test (token $GITHUB_TOKEN_TEST, every target) and
# github-app (a GitHub App, id 4242, installation 777, a fresh RSA key);
# sets GITHUB_URL, GH_PYTHON. Returns 77 when no Python has PyNaCl.
GITHUB_TOKEN=github_pat_test_0000000000000000000000
world_github() {
	GH_PYTHON=
	for p in "$ROTOR_PYTHON" /usr/bin/python3; do
		"$p" -c 'import nacl.public' 2>/dev/null && { GH_PYTHON=$p; break; }
	done
	if [ -z "$GH_PYTHON" ]; then
		echo "skip: no Python with PyNaCl for the GitHub double (apt-get install python3-nacl)"
		return 77
	fi
	DOUBLE_PYTHON=$GH_PYTHON _start_double GITHUB github_double.py || return 1
	github_ctl POST tokens "{\"token\": \"$GITHUB_TOKEN\", \"scopes\": \"*\"}" >/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORLD/gh-app.pem" 2>/dev/null &&
		chmod 600 "$WORLD/gh-app.pem" &&
		openssl pkey -in "$WORLD/gh-app.pem" -pubout -out "$WORLD/gh-app.pub" 2>/dev/null || return 1
	github_ctl POST apps "$("$ROTOR_PYTHON" -c 'import json, sys; print(json.dumps({"id": 4242, "installation_id": 777, "public_key_pem": open(sys.argv[1]).read()}))' "$WORLD/gh-app.pub")" >/dev/null
	sed -i "/^connections:\$/a\\  github:\n    github-test:\n      apiUrl: \"$GITHUB_URL\"\n      token: {env: GITHUB_TOKEN_TEST}\n    github-app:\n      apiUrl: \"$GITHUB_URL\"\n      app: {id: 4242, installationId: 777, privateKey: {file: $WORLD/gh-app.pem}}" "$WORLD/rotor.yaml"
	export GITHUB_TOKEN_TEST=$GITHUB_TOKEN
}
github_ctl() { _ctl "$GITHUB_URL" "$@"; }

# world_sshd: a real OpenSSH sshd on loopback (throwaway ed25519 host key,
# rotor's own ed25519 key authorised, internal SFTP), run as the user the
# tests run as (as root in CI: then it needs /run/sshd, created here), and
# its connection host-test in rotor.yaml (allowedDirs $WORLD/remote, reload
# commands restart-app, which appends to $WORLD/remote-reloads, broken,
# which exits 1, and gated, which waits while $WORLD/remote-gate exists). Sets SSH_PORT, SSHD_PID. Returns 77 when sshd is missing.
world_sshd() {
	local d=$WORLD/sshd
	if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
		echo "skip: OpenSSH's sshd is not installed (apt-get install openssh-server)"
		return 77
	fi
	mkdir -p "$d" "$WORLD/remote" && chmod 700 "$d"
	[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519" && ssh-keygen -q -t ed25519 -N '' -f "$d/rotor_key" || return 1
	cp "$d/rotor_key.pub" "$d/authorized_keys"
	SSH_PORT=$(free_port)
	cat >"$d/sshd_config" <<CFG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $d/host_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
	/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
	SSHD_PID=$!
	echo "$SSHD_PID" >>"$WORLD/pids"
	for _ in $(seq 1 100); do
		"$ROTOR_PYTHON" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$SSH_PORT" 2>/dev/null && break
		sleep 0.05
	done
	printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >"$d/known_hosts"
	sed -i "/^connections:\$/a\\  ssh:\n    host-test:\n      address: 127.0.0.1\n      port: $SSH_PORT\n      user: $(id -un)\n      privateKey: {file: $d/rotor_key}\n      knownHosts: $d/known_hosts\n      allowedDirs: [$WORLD/remote]\n      reload:\n        restart-app: {argv: [sh, -c, 'echo reloaded >> $WORLD/remote-reloads'], timeout: 10s}\n        broken: {argv: ['false']}\n        gated: {argv: [sh, -c, 'touch $WORLD/remote-gate-reached; while [ -e $WORLD/remote-gate ]; do sleep 0.05; done'], timeout: 60s}" "$WORLD/rotor.yaml"
}

# A manifest for USER with an env-file consumer and the given durations.
write_manifest() { # NAME USER CADENCE DEACTIVATE DELETE [EXTRA_SPEC_LINES]
	mkdir -p "$WORLD/manifests"
	cat >"$WORLD/manifests/$1.yaml" <<YAML
apiVersion: rotor/v1
kind: AccessKeyRotation
metadata:
  name: $1
spec:
  user: $2
  aws: aws-test
  cadence: $3
  deactivateAfter: $4
  deleteAfter: $5${6:+
$6}
  store:
    infisical:
      connection: infisical-test
      projectId: $PROJECT
      environment: prod
      secretPath: /aws
  consumers:
    - name: app
      envFile: {path: $WORLD/etc/$1.env}
YAML
}
