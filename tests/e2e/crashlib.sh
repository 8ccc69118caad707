# crashlib.sh: kill rotor at chosen or random moments and check the
# contract's §6 invariants against the doubles. Sourced after lib.sh and
# world.sh, not run. Used by test_crash_matrix.sh, test_secret_hygiene.sh and
# scripts/crash-soak.sh.
#
#   crash_world_start [TIME]        world_start + a reload hook + private dirs;
#                                   on exit the world is removed (CRASH_KEEP=1 keeps it)
#   crash_manifest NAME USER [CADENCE DEACTIVATE DELETE]
#                                   a manifest whose env-file consumer runs the
#                                   "crashgate" reload command (see crash_kill_envfile)
#   crash_reset                     both doubles back to their start state
#   crash_snapshot NAME / crash_restore NAME
#                                   keep / put back the whole world: both
#                                   doubles, the clock, the consumers' files
#                                   and the checker's tracking
#   crash_seed_user USER CREATED [LAST_USED]   USER with one Active key
#   crash_seed_store AKID           the store holds AKID's pair (from IAM)
#   crash_rotor LABEL ARGS...       run rotor; stdout/stderr kept under $WORLD/logs
#   crash_kill_at aws|inf MATCH AFTER inflight|answered LABEL ARGS...
#                                   "kill rotor at mutating call N" (see below)
#   crash_kill_envfile LABEL ARGS...  kill while the env-file consumer's reload
#                                   runs: the file is written, nothing after it
#   crash_kill_random MIN_MS MAX_MS LABEL ARGS...   kill -9 after a random pause
#   crash_kill_in_call FUNC LABEL ARGS...   SIGKILL (via gdb) at rotor's first
#                                   call of the libc function FUNC
#   crash_check USER [ENVFILE] [DELETE_AFTER_S] [--converged] [--final] [--at-kill]
#                                   the §6 invariants now (and the other two
#                                   checks in the same look: exit bits 1, 2, 4);
#                                   --at-kill: right after a kill, a consumer's
#                                   temp file is a note (the next pass must
#                                   remove it), not a violation
#   crash_converged USER [ENVFILE]  store ok, consumer holds it, ≤2 keys, no stray
#   crash_final USER                exactly one Active key (the store's), no
#                                   record tag left for a deleted key
#   crash_scan [--allow FILE]... PATH...   no secret in these files / trees
#   crash_collect                   remember every secret IAM holds now
#
# Results: crash_kill_* set CRASH_RESULT ("killed", "exited RC", "timeout",
# "not reached") and CRASH_ELAPSED_MS; crash_check/crash_converged/crash_final
# print one line per problem and return 1 when there is one.
#
# Secrets are remembered in $CRASH_PRIV (outside the world dir, mode 700) so
# that keys IAM has since deleted are still looked for. Problems name a key
# by its access key id, never print a secret.
#
# The checker (check.py) runs once per script and answers one command a
# line (world_py): a Python start per check cost more than the check (the
# crash matrix checks over two hundred times). It keeps nothing in memory
# between commands: its state is in $CRASH_PRIV, as before.
#
# How a kill point is hit: a `hang` fault holds the request (the double
# sleeps before processing it, so it is never committed); the double logs a
# hung call only when the hang ends, so the primitive polls the fault rule's
# `applied` counter (GET /_control/faults), which counts it at once. For
# "answered", a `drop_after` rule lets the double commit the call and close
# the connection without a reply; rotor retries a dropped call, and a second
# rule hangs that retry, so rotor is killed after the commit and before it
# did anything else (a rotor that does not resend the call fails the pass by
# itself: CRASH_RESULT "exited 1"). CRASH_HANG_MS bounds how long a double
# holds a hung request (default 20 s; the thread then drops it).

CRASH_HANG_MS=${CRASH_HANG_MS:-20000}
CRASH_SEQ=0

crash_world_start() {
	# The shared clock needs a binary built with -DROTOR_TEST_HOOKS=ON
	# (it then holds the variable's name); without it every signature is
	# off by months: skip (CTest's SKIP_RETURN_CODE) rather than fail.
	if ! grep -q ROTOR_TEST_TIME "$ROTOR_BIN" 2>/dev/null; then
		echo "skip: $ROTOR_BIN was built without -DROTOR_TEST_HOOKS=ON (no shared clock)"
		exit 77
	fi
	CRASH_OWN_WORLD=1
	[ -n "${WORLD:-}" ] && CRASH_OWN_WORLD=0 # a world dir the caller chose is kept
	world_start "$@" || return 1
	CRASH_PRIV=$(mktemp -d /tmp/rotor-crash-priv.XXXXXX)
	chmod 700 "$CRASH_PRIV"
	mkdir -p "$WORLD/logs" "$CRASH_PRIV/gate"
	trap 'crash_world_cleanup' EXIT
	# The reload command the manifests' consumers name: it marks that it
	# ran, then waits while the gate file exists (crash_kill_envfile).
	"$ROTOR_PYTHON" - "$WORLD/rotor.yaml" "$CRASH_PRIV/gate" <<'PY' || return 1
import sys
path, gate = sys.argv[1], sys.argv[2]
text = open(path).read()
hook = ('  reload:\n'
        '    crashgate: {argv: [sh, -c, "touch %s/reloaded; while [ -e %s/closed ]; '
        'do sleep 0.02; done"], timeout: 120s}\n' % (gate, gate))
lines = text.splitlines(True)
out = []
for line in lines:
    out.append(line)
    if line.startswith("  allowedDirs:"):
        out.append(hook)
open(path, "w").write("".join(out))
PY
	_crash_write_checker
	_crash_checker_start
}

# Stops the doubles and the checker and removes the private dir, and the
# world (and the soak's log archive) unless CRASH_KEEP=1.
crash_world_cleanup() {
	world_stop # the checker's pid is in $WORLD/pids too
	crash_gate_open
	rm -rf "$CRASH_PRIV"
	if [ "${CRASH_KEEP:-0}" = 1 ] || [ "$CRASH_OWN_WORLD" = 0 ]; then
		echo "# world kept: $WORLD" >&2
	else
		rm -rf "$WORLD" "$WORLD.logs"
	fi
}

crash_gate_open() { rm -f "${CRASH_PRIV:-/nonexistent}/gate/closed"; }

# A manifest like world.sh's, whose env-file consumer reloads through the gate.
crash_manifest() { # NAME USER [CADENCE DEACTIVATE DELETE]
	mkdir -p "$WORLD/manifests"
	cat >"$WORLD/manifests/$1.yaml" <<YAML
apiVersion: rotor/v1
kind: AccessKeyRotation
metadata:
  name: $1
spec:
  user: $2
  aws: aws-test
  cadence: ${3:-30d}
  deactivateAfter: ${4:-1h}
  deleteAfter: ${5:-1d}
  store:
    infisical:
      connection: infisical-test
      projectId: $PROJECT
      environment: prod
      secretPath: /aws
  consumers:
    - name: app
      envFile: {path: $WORLD/etc/$1.env, reload: crashgate}
YAML
}

# Both doubles back to their start state (the manager key, the project and
# the machine identity), no consumer files, no tracking.
crash_reset() {
	aws_ctl POST reset >/dev/null || return 1
	inf_ctl POST reset >/dev/null || return 1
	inf_ctl POST projects "{\"id\": \"$PROJECT\", \"environments\": [\"prod\"], \"folders\": {\"prod\": [\"/aws\"]}}" >/dev/null
	inf_ctl POST identities "{\"clientId\": \"$INF_CLIENT_ID\", \"clientSecret\": \"$INF_CLIENT_SECRET\", \"projects\": [{\"projectId\": \"$PROJECT\"}]}" >/dev/null
	rm -f "$WORLD"/etc/* "$WORLD"/etc/.[!.]* "$CRASH_PRIV"/track-*.json
	crash_gate_open
}

# The whole world as it is now: both doubles' state (their snapshot
# routes), the clock, the consumers' files and the checker's tracking, kept
# under $CRASH_PRIV (the files hold secrets). The audit log and rotor's
# logs are not part of it: they only grow. crash_restore puts it all back,
# so that a case starts where set-up passes left the world without
# replaying them.
crash_snapshot() { # NAME
	local d=$CRASH_PRIV/snap-$1 f
	aws_ctl POST snapshot "{\"name\": \"$1\"}" | grep -q '"snapshot"' || return 1
	inf_ctl POST snapshot "{\"name\": \"$1\"}" | grep -q '"snapshot"' || return 1
	rm -rf "$d"
	mkdir -p "$d/etc" "$d/track"
	cp -p "$WORLD/clock" "$d/clock"
	cp -pR "$WORLD/etc/." "$d/etc/"
	for f in "$CRASH_PRIV"/track-*.json; do
		[ -e "$f" ] && cp -p "$f" "$d/track/"
	done
	return 0
}

crash_restore() { # NAME
	local d=$CRASH_PRIV/snap-$1 f
	[ -d "$d" ] || return 1
	aws_ctl POST restore "{\"name\": \"$1\"}" | grep -q '"restored"' || return 1
	inf_ctl POST restore "{\"name\": \"$1\"}" | grep -q '"restored"' || return 1
	rm -f "$WORLD"/etc/* "$WORLD"/etc/.[!.]* "$CRASH_PRIV"/track-*.json
	cp -pR "$d/etc/." "$WORLD/etc/"
	for f in "$d"/track/*; do
		[ -e "$f" ] && cp -p "$f" "$CRASH_PRIV/"
	done
	cp -p "$d/clock" "$WORLD/clock.tmp" && mv -f "$WORLD/clock.tmp" "$WORLD/clock"
	crash_gate_open
}

crash_seed_user() { # USER CREATED [LAST_USED]
	local used=""
	[ -n "${3:-}" ] && used=", \"last_used\": {\"date\": \"$3\", \"service\": \"s3\", \"region\": \"eu-west-1\"}"
	aws_ctl POST users "{\"name\": \"$1\", \"keys\": [{\"created\": \"$2\"$used}]}" >/dev/null
}

# The store holds the pair of AKID as IAM (the double) has it.
crash_seed_store() { # AKID
	local secret
	secret=$(aws_ctl GET state | "$ROTOR_PYTHON" -c '
import json, sys
for u in json.load(sys.stdin)["users"]:
    for k in u["keys"]:
        if k["access_key_id"] == sys.argv[1]:
            print(k["secret_access_key"])' "$1")
	inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/aws\", \"secretKey\": \"AWS_ACCESS_KEY_ID\", \"secretValue\": \"$1\"}" >/dev/null
	inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/aws\", \"secretKey\": \"AWS_SECRET_ACCESS_KEY\", \"secretValue\": \"$secret\"}" >/dev/null
}

_crash_log() { # LABEL -> sets CRASH_LOG (path prefix under $WORLD/logs)
	CRASH_SEQ=$((CRASH_SEQ + 1))
	CRASH_LOG=$(printf '%s/logs/%04d-%s' "$WORLD" "$CRASH_SEQ" "${1//[^A-Za-z0-9_.-]/_}")
}

# Runs rotor to the end; its output goes to $CRASH_LOG.out / .err.
crash_rotor() { # LABEL ARGS...
	_crash_log "$1"
	shift
	"$ROTOR_BIN" "$@" >"$CRASH_LOG.out" 2>"$CRASH_LOG.err"
}

_crash_start() { # LABEL ARGS... -> CRASH_PID
	_crash_log "$1"
	shift
	"$ROTOR_BIN" "$@" >"$CRASH_LOG.out" 2>"$CRASH_LOG.err" &
	CRASH_PID=$!
	CRASH_T0=$(date +%s%N)
}

_crash_kill() { # kill -9 the rotor started by _crash_start, reap it
	kill -9 "$CRASH_PID" 2>/dev/null
	wait "$CRASH_PID" 2>/dev/null
	CRASH_ELAPSED_MS=$((($(date +%s%N) - CRASH_T0) / 1000000))
}

_crash_applied() { # aws|inf RULE_INDEX -> how often that fault rule fired
	"${1}_ctl" GET faults | grep -o '"applied": *[0-9]*' | sed -n "$(($2 + 1))p" |
		grep -o '[0-9]*$'
}

# Kill rotor at the AFTER+1-th call of MATCH on that double in this run:
# "inflight" while the call is held unprocessed, "answered" once the double
# has committed it and dropped the reply (at rotor's retry of it).
crash_kill_at() { # aws|inf MATCH AFTER inflight|answered LABEL ARGS...
	local dbl=$1 match=$2 after=$3 mode=$4 watch rules
	shift 4
	if [ "$mode" = inflight ]; then
		rules="[{\"match\": \"$match\", \"kind\": \"hang\", \"after\": $after, \"count\": 1, \"latency_ms\": $CRASH_HANG_MS}]"
		watch=0
	else
		rules="[{\"match\": \"$match\", \"kind\": \"drop_after\", \"after\": $after, \"count\": 1},
		        {\"match\": \"$match\", \"kind\": \"hang\", \"after\": $((after + 1)), \"count\": 1, \"latency_ms\": $CRASH_HANG_MS}]"
		watch=1
	fi
	"${dbl}_ctl" POST faults "{\"rules\": $rules}" >/dev/null || return 1
	_crash_start "$@"
	local deadline=$((SECONDS + 30)) n
	CRASH_RESULT=timeout
	while [ $SECONDS -lt $deadline ]; do
		n=$(_crash_applied "$dbl" $watch)
		if [ "${n:-0}" -ge 1 ]; then
			CRASH_RESULT=killed
			break
		fi
		if ! kill -0 "$CRASH_PID" 2>/dev/null; then
			wait "$CRASH_PID"
			CRASH_RESULT="exited $?"
			# it ended by itself: did the call (or its retry) happen at all?
			[ "$(_crash_applied "$dbl" 0)" -ge 1 ] || CRASH_RESULT="not reached"
			break
		fi
		sleep 0.02
	done
	[ "${CRASH_RESULT%% *}" = exited ] || [ "$CRASH_RESULT" = "not reached" ] || _crash_kill
	"${dbl}_ctl" DELETE faults >/dev/null
}

# Kill rotor while the env-file consumer's reload command runs: the file has
# been replaced, rotor has not verified it nor recorded anything after it.
crash_kill_envfile() { # LABEL ARGS...
	rm -f "$CRASH_PRIV/gate/reloaded"
	touch "$CRASH_PRIV/gate/closed"
	_crash_start "$@"
	local deadline=$((SECONDS + 30))
	CRASH_RESULT=timeout
	while [ $SECONDS -lt $deadline ]; do
		if [ -e "$CRASH_PRIV/gate/reloaded" ]; then
			CRASH_RESULT=killed
			break
		fi
		if ! kill -0 "$CRASH_PID" 2>/dev/null; then
			wait "$CRASH_PID"
			CRASH_RESULT="exited $?"
			break
		fi
		sleep 0.02
	done
	[ "${CRASH_RESULT%% *}" = exited ] || _crash_kill
	crash_gate_open
}

# Kill rotor after a random pause of MIN_MS..MAX_MS milliseconds (or let it
# end first).
crash_kill_random() { # MIN_MS MAX_MS LABEL ARGS...
	local min=$1 max=$2
	shift 2
	[ "$max" -ge "$min" ] || max=$min
	local ms=$((RANDOM * 32768 + RANDOM))
	ms=$((min + ms % (max - min + 1)))
	CRASH_PAUSE_MS=$ms
	_crash_start "$@"
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	if kill -0 "$CRASH_PID" 2>/dev/null; then
		_crash_kill
		CRASH_RESULT=killed
	else
		wait "$CRASH_PID"
		CRASH_RESULT="exited $?"
		CRASH_ELAPSED_MS=$((($(date +%s%N) - CRASH_T0) / 1000000))
	fi
}

# Kill rotor (SIGKILL, through gdb) when it calls the C library function
# FUNC for the first time: e.g. renameat, which the env-file consumer calls
# after it wrote and fsync'd its temp file and before it renamed it over the
# consumer's file. CRASH_RESULT is "killed", or "not reached" (rotor ran to
# the end without calling FUNC, or gdb cannot trace here), or "no gdb".
crash_kill_in_call() { # FUNC LABEL ARGS...
	local func=$1
	shift
	_crash_log "$1"
	shift
	if ! command -v gdb >/dev/null 2>&1; then
		CRASH_RESULT="no gdb"
		return
	fi
	CRASH_T0=$(date +%s%N)
	timeout 120 gdb -q -batch -ex 'set breakpoint pending on' -ex "break $func" -ex run \
		-ex 'kill' --args "$ROTOR_BIN" "$@" >"$CRASH_LOG.out" 2>"$CRASH_LOG.err" </dev/null
	CRASH_ELAPSED_MS=$((($(date +%s%N) - CRASH_T0) / 1000000))
	if grep -q "^Breakpoint 1, " "$CRASH_LOG.out" && grep -q "killed\]" "$CRASH_LOG.out"; then
		CRASH_RESULT=killed
	else
		CRASH_RESULT="not reached"
	fi
}

# check.py runs once for the whole script (world_py_start); its pid is
# among the doubles', so world_stop ends it. Without it, every check
# answers 127: every check bit set, so no caller takes it for a pass.
_crash_checker_start() {
	AWS_URL=$AWS_URL INF_URL=$INF_URL WORLD=$WORLD CRASH_PRIV=$CRASH_PRIV PROJECT=$PROJECT \
		CRASH_KNOWN_SECRETS="$MANAGER_SECRET $INF_CLIENT_SECRET ${CRASH_KNOWN_SECRETS:-}" \
		world_py_start CHECK "$CRASH_PRIV/check.py"
}
_crash_py() { world_py CHECK "$@"; } # COMMAND ARGS...

crash_collect() { _crash_py collect; }
crash_check() { # USER [ENVFILE] [DELETE_AFTER] [--converged] [--final]
	local user=$1 env=${2:-} del=${3:-86400}
	shift $(($# < 3 ? $# : 3))
	_crash_py check "$user" "$env" "$del" "$@"
}
crash_converged() { _crash_py converged "$1" "${2:-}"; }
crash_final() { _crash_py final "$1"; }
crash_scan() { _crash_py scan "$@"; }
crash_phase() { _crash_py phase "$@"; }
crash_calls_seq() { _crash_py seq; }
crash_store_akid() { _crash_py storeakid; }

_crash_write_checker() {
	cat >"$CRASH_PRIV/check.py" <<'PY'
"""The invariant checker behind crashlib.sh (written to a private dir)."""
import datetime
import json
import os
import re
import sys
import urllib.request

AWS, INF = os.environ["AWS_URL"], os.environ["INF_URL"]
WORLD, PRIV, PROJECT = os.environ["WORLD"], os.environ["CRASH_PRIV"], os.environ["PROJECT"]
AKID_NAME, SECRET_NAME = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


SECRETS = os.path.join(PRIV, "secrets.json")


def collect(aws, inf):
    """Every secret that must not leak, labelled without its value."""
    known = load(SECRETS, {})
    for u in aws["users"]:
        for k in u["keys"]:
            label = ("the manager's secret" if u.get("manager")
                     else "the secret of %s (%s)" % (k["access_key_id"], u["name"]))
            known.setdefault(k["secret_access_key"], label)
    for i in inf.get("identities", []):
        if i.get("clientSecret"):
            known.setdefault(i["clientSecret"], "the Infisical client secret")
    for s in os.environ.get("CRASH_KNOWN_SECRETS", "").split():
        known.setdefault(s, "a controller credential")
    save(SECRETS, known)
    return known


def user_of(aws, name):
    for u in aws["users"]:
        if u["name"] == name:
            return u
    return None


def store_pair(inf):
    for p in inf["projects"]:
        if p["id"] != PROJECT:
            continue
        folder = p["environments"].get("prod", {}).get("folders", {}).get("/aws", {})
        vals = {s["secretKey"]: s["versions"][-1]["secretValue"] for s in folder.get("secrets", [])}
        return vals.get(AKID_NAME) or None, vals.get(SECRET_NAME) or None
    return None, None


def env_pair(path):
    if not path or not os.path.exists(path):
        return None
    vals = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            name, eq, value = line.rstrip("\n").partition("=")
            if eq:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                vals[name.strip()] = value
    return vals.get(AKID_NAME), vals.get(SECRET_NAME)


def scan(paths, allowed, known, only_controller_in_allowed=True):
    """Secrets found in files: [(label, file)]. Files in `allowed` (the
    consumers) may hold user keys' secrets, never a controller credential."""
    found = []
    controller = {s for s, label in known.items() if not label.startswith("the secret of")}
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                for n in names:
                    files.append(os.path.join(root, n))
        elif os.path.exists(p):
            files.append(p)
    allowed = {os.path.realpath(a) for a in allowed}
    for f in files:
        if os.path.islink(f) or not os.path.isfile(f):
            continue
        if os.path.realpath(f).startswith(os.path.realpath(PRIV) + os.sep):
            continue
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        look = controller if os.path.realpath(f) in allowed else known
        for s in look:
            if s and s.encode() in data:
                found.append((known[s], os.path.relpath(f, WORLD) if f.startswith(WORLD) else f))
    return found


def consumers():
    etc = os.path.join(WORLD, "etc")
    if not os.path.isdir(etc):
        return []
    return [os.path.join(etc, n) for n in os.listdir(etc)
            if n.endswith(".env") and not n.startswith(".")]


def keyview(u):
    return {k["access_key_id"]: k for k in (u["keys"] if u else [])}


def strays(keys, akid, track):
    """Keys newer than the store's (or as new and never stored): what an
    interrupted rotation or an unknown party left."""
    cur = keys.get(akid)
    out = []
    for kid, k in keys.items():
        if kid == akid:
            continue
        was_stored = track["keys"].get(kid, {}).get("store")
        if cur is None:
            if not was_stored:
                out.append(kid)
        elif ts(k["created"]) > ts(cur["created"]) or (
                k["created"] == cur["created"] and not was_stored):
            out.append(kid)
    return out


# A consumer's temp file (envfile.c's ".NAME.rotor-" + 12 hex digits): a
# kill between its write and its rename leaves it, as any temp-and-rename
# write must; right after such a kill it is noted, not a violation, but the
# next pass must remove it.
TEMP_RE = re.compile(r"(^|/)etc/\.[^/]+\.rotor-[0-9a-f]{12}$")


def cmd_check(user, envfile, delete_after, aws=None, inf=None, at_kill=False):
    if aws is None:
        aws, inf = get(AWS + "/_control/state"), get(INF + "/_control/state")
    known = collect(aws, inf)
    now = ts(aws["now"])
    u = user_of(aws, user)
    keys = keyview(u)
    akid, secret = store_pair(inf)
    tpath = os.path.join(PRIV, "track-%s.json" % user)
    track = load(tpath, {"keys": {}, "store_seen": False, "aws_seq": 0})
    v = []
    if u is None:
        v.append("the IAM user %s is gone" % user)
    if akid or secret:
        track["store_seen"] = True
    if track["store_seen"]:
        if not akid or not secret:
            v.append("inv1: the store no longer holds a whole pair")
        elif akid not in keys:
            v.append("inv1/inv2: the store holds %s, which IAM no longer has (deleted)" % akid)
        else:
            if keys[akid]["status"] != "Active":
                v.append("inv2: the store's key %s is %s" % (akid, keys[akid]["status"]))
            if keys[akid]["secret_access_key"] != secret:
                v.append("inv1: the store's secret is not the secret of %s "
                         "(an unvalidated or wrong pair was stored)" % akid)
    for kid, k in keys.items():
        t = track["keys"].setdefault(kid, {"store": False, "inactive": None})
        if kid == akid:
            t["store"] = True
        if k["status"] == "Inactive":
            t["inactive"] = t["inactive"] or aws["now"]
        else:
            t["inactive"] = None
    for kid, t in track["keys"].items():
        if kid in keys or t.get("gone"):
            continue
        t["gone"] = aws["now"]
        if t["store"]:
            if not t["inactive"]:
                v.append("inv3: predecessor %s was deleted without being seen Inactive" % kid)
            elif (now - ts(t["inactive"])).total_seconds() < delete_after:
                v.append("inv3: predecessor %s was deleted %ds after it became Inactive "
                         "(deleteAfter %ds)" % (kid, (now - ts(t["inactive"])).total_seconds(),
                                                 delete_after))
    if len(keys) > 2:
        v.append("inv4: %s has %d keys" % (user, len(keys)))
    calls = get(AWS + "/_control/calls?since=%d" % track["aws_seq"])["calls"]
    for c in calls:
        track["aws_seq"] = max(track["aws_seq"], c["seq"])
        if c.get("error") == "LimitExceeded":
            v.append("inv4: rotor hit LimitExceeded (%s, call %d)" % (c["action"], c["seq"]))
    pair = env_pair(envfile)
    if pair and pair[0]:
        eid, esec = pair
        if eid not in keys:
            v.append("inv6: the consumer holds %s, which IAM no longer has" % eid)
        elif keys[eid]["status"] != "Active":
            v.append("inv6: the consumer's key %s is %s" % (eid, keys[eid]["status"]))
        elif keys[eid]["secret_access_key"] != esec:
            v.append("inv6: the consumer's secret is not the secret of %s" % eid)
    notes = []
    for label, f in scan([WORLD], consumers(), known):
        if at_kill and TEMP_RE.search(f):
            notes.append("the kill left %s (holding %s): the next pass must remove it"
                         % (f, label))
        else:
            v.append("inv5: %s appears in %s" % (label, f))
    for line in notes:
        print("  note: " + line)
    save(tpath, track)
    for line in v:
        print("  violation: " + line)
    return 1 if v else 0


def cmd_converged(user, envfile, aws=None, inf=None):
    if aws is None:
        aws, inf = get(AWS + "/_control/state"), get(INF + "/_control/state")
        collect(aws, inf)
    keys = keyview(user_of(aws, user))
    akid, secret = store_pair(inf)
    track = load(os.path.join(PRIV, "track-%s.json" % user), {"keys": {}})
    r = []
    if not akid or akid not in keys:
        r.append("the store holds no key IAM has (%s)" % akid)
    elif keys[akid]["status"] != "Active" or keys[akid]["secret_access_key"] != secret:
        r.append("the store's pair (%s) does not authenticate" % akid)
    pair = env_pair(envfile) if envfile else None
    if envfile and (not pair or pair[0] != akid or pair[1] != secret):
        r.append("the consumer does not hold the store's pair (it holds %s)"
                 % (pair[0] if pair else "nothing"))
    if len(keys) > 2:
        r.append("%d keys" % len(keys))
    def desc(kid):
        lu = keys[kid].get("last_used") or {}
        return "%s (%s, last used %s by %s)" % (
            kid, keys[kid]["status"], lu.get("date", "never"), lu.get("service", "-"))
    if akid in keys:
        for kid in strays(keys, akid, track):
            r.append("stray key %s left" % desc(kid))
    elif keys:
        r.append("IAM has " + ", ".join(desc(k) for k in sorted(keys)))
    for line in r:
        print("  not converged: " + line)
    return 1 if r else 0


def cmd_final(user, aws=None, inf=None):
    if aws is None:
        aws, inf = get(AWS + "/_control/state"), get(INF + "/_control/state")
        collect(aws, inf)
    u = user_of(aws, user)
    keys = keyview(u)
    akid, _ = store_pair(inf)
    r = []
    active = sorted(k for k, v in keys.items() if v["status"] == "Active")
    if active != [akid]:
        r.append("Active keys %s, the store holds %s (want exactly the store's key Active)"
                 % (", ".join(active) or "none", akid))
    for tag in sorted((u or {}).get("tags", {})):
        if re.match(r"^AKIA[A-Z0-9]{12,}$", tag) and tag not in keys:
            r.append("rotor's record tag for %s is left on %s though the key is gone"
                     % (tag, user))
    for line in r:
        print("  final: " + line)
    return 1 if r else 0


MUTATING = {"TagUser", "UntagUser", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"}


def cmd_phase(since_aws, since_inf, store_akid):
    """Names where a killed pass stopped: its last committed mutation, in
    rotor's order (the two doubles' logs cannot be merged by time)."""
    names = []
    for c in get(AWS + "/_control/calls?since=%s" % since_aws)["calls"]:
        if c.get("status") != 200:
            continue
        if c["action"] in MUTATING:
            names.append(c["action"])
        elif c["action"] == "GetCallerIdentity" and c.get("akid") not in (
                store_akid, None) and not c["akid"].startswith("AKIAROTORMANAGER"):
            names.append("validate")
    written = any(c.get("route") in ("batch_update", "batch_create", "create", "update")
                  and c.get("status") == 200
                  for c in get(INF + "/_control/calls?since=%s" % since_inf)["calls"])
    if "CreateAccessKey" in names:
        after = names[names.index("CreateAccessKey") + 1:]
        if "validate" not in after:
            label = "rotate: after CreateAccessKey" + (" + its record" if after else "")
        elif not written:
            label = "rotate: after validate"
        else:
            post = after[after.index("validate") + 1:]
            label = ["rotate: after the store write", "rotate: after the store-version record",
                     "rotate: after removing the intent (env file maybe written)",
                     "rotate: after the sync record (pass done)"][min(len(post), 3)]
    elif "DeleteAccessKey" in names:
        after = names[names.index("DeleteAccessKey") + 1:]
        label = "delete: after DeleteAccessKey" + (" + untag" if "UntagUser" in after else "") + (
            " + intent (rotation starting)" if "TagUser" in after else "")
    elif "UpdateAccessKey" in names:
        label = "deactivate: after UpdateAccessKey" + (
            " + its record" if names[-1] == "TagUser" else "")
    elif names == ["TagUser"]:
        label = "rotate: after recording the intent"
    elif names:
        label = "after " + "+".join(names)
    else:
        label = "before any mutation"
    print(label)
    return 0


def main(cmd, args):
    if cmd == "collect":
        collect(get(AWS + "/_control/state"), get(INF + "/_control/state"))
        return 0
    if cmd == "check":
        # check USER ENVFILE DELETE_AFTER [--converged] [--final]: one look at
        # the doubles for all three; exit status bits 1 violation,
        # 2 not converged, 4 final state wrong
        flags = [a for a in args if a.startswith("--")]
        args = [a for a in args if not a.startswith("--")]
        aws, inf = get(AWS + "/_control/state"), get(INF + "/_control/state")
        rc = cmd_check(args[0], args[1] if len(args) > 1 else "",
                       int(args[2]) if len(args) > 2 else 86400, aws, inf,
                       at_kill="--at-kill" in flags)
        if "--converged" in flags and cmd_converged(args[0], args[1] if len(args) > 1 else "",
                                                    aws, inf):
            rc |= 2
        if "--final" in flags and cmd_final(args[0], aws, inf):
            rc |= 4
        return rc
    if cmd == "converged":
        return cmd_converged(args[0], args[1] if len(args) > 1 else "")
    if cmd == "final":
        return cmd_final(args[0])
    if cmd == "phase":
        return cmd_phase(*args)
    if cmd == "seq":
        a = get(AWS + "/_control/calls")["calls"]
        i = get(INF + "/_control/calls")["calls"]
        print(max([c["seq"] for c in a] or [0]), max([c["seq"] for c in i] or [0]))
        return 0
    if cmd == "storeakid":
        print(store_pair(get(INF + "/_control/state"))[0] or "")
        return 0
    if cmd == "scan":
        allowed, paths = [], []
        it = iter(args)
        for a in it:
            if a == "--allow":
                allowed.append(next(it))
            else:
                paths.append(a)
        known = collect(get(AWS + "/_control/state"), get(INF + "/_control/state"))
        found = scan(paths, allowed, known)
        for label, f in found:
            print("  leak: %s appears in %s" % (label, f))
        return 1 if found else 0
    print("check.py: unknown command %s" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":  # else tests/e2e/pyserve.py runs main() per command
    sys.exit(main(sys.argv[1], sys.argv[2:]))
PY
}
