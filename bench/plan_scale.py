#!/usr/bin/env python3
"""plan_scale.py: how long `rotor plan` takes over many users, beside its floors.

Starts our IAM/STS double and Infisical double on loopback, each answering
every API request after a fixed injected latency (a `latency` fault rule on
every route), seeds N IAM users in a steady state (one key, the pair in the
store, an env file holding it), and times `rotor plan --parallel P` over N
manifests. Prints, per N:

  wall        rotor plan's wall time
  floor/lat   the latency floor: requests x latency / parallelism
  floor/rate  the rate-limit floor at the configured requestsPerSecond, and
              what a pass would take at rotor's default (10 IAM requests a
              second, 20 for STS): on real AWS the IAM rate, not latency,
              bounds a pass, so this is the figure to size controller.resync
  rss         rotor's peak resident set (getrusage of the child)
  req/user    IAM, STS and store requests per user, from the doubles' logs

Usage: plan_scale.py ROTOR_BIN [N ...] [--latency-ms 20] [--parallel 8]
Standard library only; the doubles come from tests/doubles/.
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLES = os.path.join(HERE, "..", "tests", "doubles")
MANAGER = ("AKIABENCHMANAGER0001", "benchManagerSecretbenchManagerSecret0001")
PROJECT = "proj-bench-0001"
CID, CSECRET = "bench-client", "bench-client-secret-0123456789"


def start(script, *args):
    p = subprocess.Popen([sys.executable, os.path.join(DOUBLES, script), "--port", "0",
                          "--lifetime", "7200"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        raise SystemExit("%s did not start" % script)
    return p, int(line.split()[1])


class Control:
    """A keep-alive connection to a double's control API."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def __call__(self, method, route, obj=None):
        body = json.dumps(obj).encode() if obj is not None else None
        self.c.request(method, "/_control/" + route, body=body,
                       headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("control %s %s: %d %s" % (method, route, r.status, data[:300]))
        return json.loads(data) if data else None


def seed(aws, inf, n, etc):
    inf("POST", "projects", {"id": PROJECT, "environments": ["prod"]})
    inf("POST", "identities", {"clientId": CID, "clientSecret": CSECRET,
                               "projects": [{"projectId": PROJECT}]})
    for i in range(n):
        user = "bench-%05d" % i
        akid = "AKIABENCH%011d" % i
        secret = "benchSecret%029d" % i
        aws("POST", "users", {"name": user, "keys": [{"access_key_id": akid,
                                                       "secret_access_key": secret}]})
        inf("POST", "folders", {"projectId": PROJECT, "environment": "prod",
                                "path": "/bench/%s" % user})
        for key, value in (("AWS_ACCESS_KEY_ID", akid), ("AWS_SECRET_ACCESS_KEY", secret)):
            inf("POST", "secrets", {"projectId": PROJECT, "environment": "prod",
                                    "secretPath": "/bench/%s" % user, "secretKey": key,
                                    "secretValue": value})
        with open(os.path.join(etc, user + ".env"), "w") as f:
            f.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (akid, secret))
        os.chmod(os.path.join(etc, user + ".env"), 0o600)


def stop_all(procs, tmp, wait=30):
    """Stops what a benchmark started (the last first) and removes its directory."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def write_world(tmp, n, aws_port, inf_port, rps):
    etc = os.path.join(tmp, "etc")
    man = os.path.join(tmp, "manifests")
    os.makedirs(etc)
    os.makedirs(man)
    with open(os.path.join(tmp, "rotor.yaml"), "w") as f:
        f.write("""apiVersion: rotor/v1
kind: Config
connections:
  aws:
    bench:
      region: us-east-1
      endpoints: {iam: "http://127.0.0.1:%d", sts: "http://127.0.0.1:%d"}
      requestsPerSecond: %d
  infisical:
    store:
      siteUrl: "http://127.0.0.1:%d"
      clientId: {env: INFISICAL_CLIENT_ID}
      clientSecret: {env: INFISICAL_CLIENT_SECRET}
envFiles:
  allowedDirs: [%s]
stateDir: %s
""" % (aws_port, aws_port, rps, inf_port, etc, os.path.join(tmp, "state")))
    os.makedirs(os.path.join(tmp, "state"), mode=0o700)
    for i in range(n):
        user = "bench-%05d" % i
        with open(os.path.join(man, user + ".yaml"), "w") as f:
            f.write("""apiVersion: rotor/v1
kind: AccessKeyRotation
metadata: {name: %s}
spec:
  user: %s
  aws: bench
  store:
    infisical: {connection: store, projectId: %s, environment: prod, secretPath: /bench/%s}
  consumers:
    - {name: app, envFile: {path: %s/%s.env}}
""" % (user, user, PROJECT, user, etc, user))
    return etc, man


def calls(ctl, since, key):
    out = {}
    for c in ctl("GET", "calls?since=%d" % since)["calls"]:
        out[c[key]] = out.get(c[key], 0) + 1
    return out


def last_seq(ctl):
    cs = ctl("GET", "calls")["calls"]
    return cs[-1]["seq"] if cs else 0


def run(rotor, n, latency_ms, parallel, rps):
    tmp = tempfile.mkdtemp(prefix="rotor-bench.")
    procs = []
    try:
        pa, aws_port = start("aws_double.py", "--manager-key", "%s:%s" % MANAGER)
        pi, inf_port = start("infisical_double.py")
        procs = [pa, pi]
        aws, inf = Control(aws_port), Control(inf_port)
        etc, man = write_world(tmp, n, aws_port, inf_port, rps)
        t0 = time.monotonic()
        seed(aws, inf, n, etc)
        seeded = time.monotonic() - t0
        rule = {"rules": [{"match": "*", "kind": "latency", "latency_ms": latency_ms,
                           "count": -1}]}
        aws("POST", "faults", rule)
        inf("POST", "faults", rule)
        a0, i0 = last_seq(aws), last_seq(inf)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=MANAGER[0], AWS_SECRET_ACCESS_KEY=MANAGER[1],
                   AWS_EC2_METADATA_DISABLED="true", INFISICAL_CLIENT_ID=CID,
                   INFISICAL_CLIENT_SECRET=CSECRET, HOME=tmp)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "ROTOR_TEST_TIME"):
            env.pop(k, None)
        out_path, err_path = os.path.join(tmp, "plan.txt"), os.path.join(tmp, "plan.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            t0 = time.monotonic()
            p = subprocess.Popen([rotor, "plan", "--config", os.path.join(tmp, "rotor.yaml"),
                                  "--parallel", str(parallel), man],
                                 env=env, stdout=out, stderr=err)
            _, status, ru = os.wait4(p.pid, 0)  # rotor's own rusage, nobody else's
            wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in (0, 2):
            sys.stderr.write(open(err_path).read()[-2000:])
            raise SystemExit("rotor plan exited %d" % p.returncode)
        summary = open(out_path).read().rstrip("\n").rsplit("\n", 1)[-1]
        aws_calls = calls(aws, a0, "action")
        inf_calls = calls(inf, i0, "route")
        iam = sum(v for k, v in aws_calls.items() if k != "GetCallerIdentity")
        sts = aws_calls.get("GetCallerIdentity", 0)
        store = sum(inf_calls.values())
        total = iam + sts + store
        rss_mib = ru.ru_maxrss / 1024.0
        floor_lat = total * latency_ms / 1000.0 / parallel
        floor_rate = max(iam / float(rps), sts / (2.0 * rps))
        default_rate = max(iam / 10.0, sts / 20.0)
        return {"n": n, "wall": wall, "floor_lat": floor_lat, "floor_rate": floor_rate,
                "default_rate": default_rate, "rss_mib": rss_mib, "iam": iam, "sts": sts,
                "store": store, "aws_calls": aws_calls, "inf_calls": inf_calls,
                "seeded": seeded, "summary": summary,
                "cpu": ru.ru_utime + ru.ru_stime}
    finally:
        stop_all(procs, tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rotor")
    ap.add_argument("n", nargs="*", type=int, default=[1000, 10000])
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--rps", type=int, default=1000,
                    help="requestsPerSecond for the run (the doubles have no IAM rate limit)")
    a = ap.parse_args()
    print("rotor plan against the doubles, %d ms injected latency per request, --parallel %d,"
          " requestsPerSecond %d" % (a.latency_ms, a.parallel, a.rps))
    for n in a.n:
        x = run(a.rotor, n, a.latency_ms, a.parallel, a.rps)
        print("\n%d users (seeded in %.0f s): %s" % (n, x["seeded"], x["summary"]))
        print("  wall            %8.1f s   (rotor CPU %.1f s)" % (x["wall"], x["cpu"]))
        print("  floor/latency   %8.1f s   wall/floor %.2fx" % (x["floor_lat"],
                                                                 x["wall"] / x["floor_lat"]))
        print("  floor/rate      %8.1f s   at %d IAM req/s" % (x["floor_rate"], a.rps))
        print("  at the default  %8.1f s   (%.1f min) at 10 IAM req/s, 20 STS req/s: a "
              "pass on real AWS" % (x["default_rate"], x["default_rate"] / 60))
        print("  peak RSS        %8.1f MiB" % x["rss_mib"])
        print("  requests/user   IAM %.2f, STS %.2f, store %.4f   (%s; %s)" % (
            x["iam"] / float(n), x["sts"] / float(n), x["store"] / float(n),
            ", ".join("%s %d" % kv for kv in sorted(x["aws_calls"].items())),
            ", ".join("%s %d" % kv for kv in sorted(x["inf_calls"].items()))))


if __name__ == "__main__":
    main()
