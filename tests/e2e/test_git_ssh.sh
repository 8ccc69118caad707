#!/usr/bin/env bash
# The git source over SSH (issue 18) against a real OpenSSH sshd, started by
# the test on a free loopback port with a throwaway host key and an
# authorized client key, stopped by its pid:
#  - with the host key pinned in knownHosts, `rotor validate` reads the
#    manifests through ssh://;
#  - a changed host key (knownHosts pins another) is refused, naming the
#    fingerprint the server offered; an unknown host (no entry) likewise;
#  - a client key sshd does not accept fails with "authentication failed";
#  - no private key material in rotor's output.
source "$(dirname "$0")/lib.sh"
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] && command -v ssh-keygen >/dev/null && command -v git >/dev/null ||
	{ echo "skip: needs sshd and ssh-keygen (openssh-server; scripts/deps.sh installs it)"; exit 77; }
T=$(mktemp -d /tmp/rotor-ssh.XXXXXX)
SSHD_PID=
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
USER_NAME=$(id -un)
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd # sshd's privilege separation directory
ssh-keygen -q -t ed25519 -N '' -C rotor-test-host -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -C rotor-test-other-host -f "$T/other_host_key"
ssh-keygen -q -t ed25519 -N '' -C rotor-test-client -f "$T/id"
ssh-keygen -q -t ed25519 -N '' -C rotor-test-stranger -f "$T/stranger"
cp "$T/id.pub" "$T/authorized_keys"
chmod 600 "$T/authorized_keys"
PORT=$("${ROTOR_PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
AuthorizedKeysFile $T/authorized_keys
PidFile $T/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers $USER_NAME
LogLevel ERROR
EOF
"$SSHD" -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
SSHD_PID=$!
for _ in $(seq 1 100); do
	"${ROTOR_PYTHON:-python3}" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
	sleep 0.05
done

git_identity
git_app_repo "$T/repo"
git -C "$T/repo" add -A && git -C "$T/repo" commit -qm app
HEAD_ID=$(git -C "$T/repo" rev-parse HEAD)

known() { # KEYFILE -> a knownHosts line pinning that key for the server
	printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$1.pub")"
}
config() { # KNOWN_HOSTS_FILE CLIENT_KEY
	cat >"$T/rotor.yaml" <<EOF
apiVersion: rotor/v1
kind: Config
connections:
  aws:
    aws-prod: {region: us-east-1}
  infisical:
    infisical-main: {siteUrl: "https://infisical.example", clientId: {env: X_ID}, clientSecret: {env: X_SECRET}}
source:
  url: "ssh://$USER_NAME@127.0.0.1:$PORT$T/repo"
  branch: main
  path: aws
  cacheDir: $T/cache
  auth: {sshKey: {file: $2}, knownHosts: $1}
EOF
	rm -rf "$T/cache"
}
rv() {
	out=$("$ROTOR_BIN" validate --config "$T/rotor.yaml" 2>&1)
	rc=$?
}
FP=$(ssh-keygen -l -E sha256 -f "$T/host_key.pub" | awk '{print $2}')

known "$T/host_key" >"$T/known_hosts"
config "$T/known_hosts" "$T/id"
rv
check "ssh: with the host key pinned, the manifests are read through ssh://" \
	'[ $rc = 0 ] && grep -q "1 manifest OK" <<<"$out"'
check "ssh: the cache holds the head commit" \
	'[ "$(git -C "$T"/cache/*.git rev-parse refs/rotor/main)" = "$HEAD_ID" ]'
check "ssh: no private key in the output" '! grep -q "PRIVATE KEY" <<<"$out"'

known "$T/other_host_key" >"$T/known_changed"
config "$T/known_changed" "$T/id"
rv
check "ssh: a changed host key is refused, naming the fingerprint offered" \
	'[ $rc = 1 ] && grep -q "CHANGED" <<<"$out" && grep -qF "$FP" <<<"$out"'

printf '# nothing pinned for this server\n' >"$T/known_empty"
config "$T/known_empty" "$T/id"
rv
check "ssh: an unknown host is refused, naming the fingerprint offered" \
	'[ $rc = 1 ] && grep -q "is unknown" <<<"$out" && grep -qF "$FP" <<<"$out"'

config "$T/known_hosts" "$T/stranger"
rv
check "ssh: a client key sshd does not accept fails with authentication failed" \
	'[ $rc = 1 ] && grep -q "authentication failed\|did not accept" <<<"$out" && ! grep -q "PRIVATE KEY" <<<"$out"' ||
	tail -5 "$T/sshd.log" | sed 's/^/#   sshd: /'
finish
