#!/usr/bin/env python3
"""controller_idle.py: `rotor controller` with N manifests scheduled.

Starts our IAM/STS and Infisical doubles, seeds N users in a steady state
(as plan_scale.py does), runs `rotor controller` over the N manifests
(PATH mode, endpoints on a free loopback port), waits until every manifest
was reconciled once (the pass when they all fall due together, timed), then
measures the controller idle over a minute: its CPU time (from
/proc/PID/stat) and its resident memory (VmRSS, VmHWM). Targets (issue 19):
at most 32 MiB, ~0% CPU while nothing is due.

Usage: controller_idle.py ROTOR_BIN [N] [--seconds 60]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import plan_scale  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rotor")
    ap.add_argument("n", nargs="?", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rotor-idle.")
    procs = []
    try:
        pa, aws_port = plan_scale.start("aws_double.py", "--manager-key", "%s:%s" % plan_scale.MANAGER)
        pi, inf_port = plan_scale.start("infisical_double.py")
        procs += [pa, pi]
        aws, inf = plan_scale.Control(aws_port), plan_scale.Control(inf_port)
        etc, man = plan_scale.write_world(tmp, a.n, aws_port, inf_port, 1000)
        plan_scale.seed(aws, inf, a.n, etc)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(os.path.join(tmp, "rotor.yaml"), "a") as f:
            f.write("controller:\n  workers: 8\n  resync: 1h\n  listen: \"127.0.0.1:%d\"\n" % port)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=plan_scale.MANAGER[0],
                   AWS_SECRET_ACCESS_KEY=plan_scale.MANAGER[1], AWS_EC2_METADATA_DISABLED="true",
                   INFISICAL_CLIENT_ID=plan_scale.CID, INFISICAL_CLIENT_SECRET=plan_scale.CSECRET,
                   HOME=tmp, ROTOR_LOG_LEVEL="warn")
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "ROTOR_TEST_TIME"):
            env.pop(k, None)
        t0 = time.monotonic()
        ctl = subprocess.Popen([a.rotor, "controller", "--config", os.path.join(tmp, "rotor.yaml"),
                                man], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(tmp, "controller.err"), "w"))
        procs.append(ctl)
        url = "http://127.0.0.1:%d/status" % port
        done = False
        while time.monotonic() - t0 < 1800 and not done:
            time.sleep(1)
            try:
                st = json.load(urllib.request.urlopen(url, timeout=10))
                done = st["manifests"] and all(m["lastPass"] for m in st["manifests"])
            except Exception:
                pass
        first = time.monotonic() - t0
        if not done:
            raise SystemExit("the controller did not reconcile every manifest in 30 min")
        time.sleep(2)
        cpu0, w0 = cpu_seconds(ctl.pid), time.monotonic()
        time.sleep(a.seconds)
        cpu = cpu_seconds(ctl.pid) - cpu0
        wall = time.monotonic() - w0
        rss, hwm = mem_kib(ctl.pid, "VmRSS"), mem_kib(ctl.pid, "VmHWM")
        print("rotor controller, %d manifests (one key each, in sync), 8 workers" % a.n)
        print("  first pass of all %d (all due at start): %.1f s" % (a.n, first))
        print("  idle %.0f s: CPU %.3f s (%.2f%% of one core)" % (wall, cpu, 100.0 * cpu / wall))
        print("  RSS idle %.1f MiB, peak %.1f MiB" % (rss / 1024.0, hwm / 1024.0))
    finally:
        plan_scale.stop_all(procs, tmp)


if __name__ == "__main__":
    main()
