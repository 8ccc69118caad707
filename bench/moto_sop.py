#!/usr/bin/env python3
"""moto_sop.py: `rotor plan` against moto beside the seed SOP's shell loop.

Starts moto (`python3 -m moto.server`, unmodified) and our Infisical double,
creates N IAM users with one key each in moto, puts each pair in the store
and an env file, then measures in one run, side by side:

  rotor   `rotor plan --parallel P` over the N manifests;
  sop     the seed SOP's loop with the aws CLI, user after user:
          `aws iam list-access-keys`, then `aws iam get-access-key-last-used`
          for each key (what an operator runs to see the same facts);
  floor   moto's own CPU time while serving rotor's pass (read from
          /proc/PID/stat before and after): moto answers on one core (the
          GIL), so no client can finish its requests faster than that.

Prints the wall times per user, the ratio of the SOP loop to rotor, and
rotor's wall time over moto's floor. Usage:
  moto_sop.py ROTOR_BIN [N] [--parallel 8]
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
import plan_scale  # noqa: E402  (the Infisical double's helpers)

ENV_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rotor")
    ap.add_argument("n", nargs="?", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()
    try:
        import boto3  # moto's own dependency
    except ImportError:
        raise SystemExit("moto_sop.py needs moto (and its boto3) on this python3: "
                         "pip install 'moto[server]'")
    if not shutil.which("aws"):
        raise SystemExit("moto_sop.py needs the aws CLI on PATH for the SOP loop")
    tmp = tempfile.mkdtemp(prefix="rotor-moto-bench.")
    port = free_port()
    env = dict(os.environ, **ENV_AWS)
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [moto]
    url = "http://127.0.0.1:%d" % port
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
                break
            except Exception:
                time.sleep(0.1)
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        pi, inf_port = plan_scale.start("infisical_double.py")
        procs.append(pi)
        inf = plan_scale.Control(inf_port)
        etc, man = plan_scale.write_world(tmp, a.n, port, inf_port, 1000)
        inf("POST", "projects", {"id": plan_scale.PROJECT, "environments": ["prod"]})
        inf("POST", "identities", {"clientId": plan_scale.CID,
                                   "clientSecret": plan_scale.CSECRET,
                                   "projects": [{"projectId": plan_scale.PROJECT}]})
        users = []
        for i in range(a.n):
            user = "bench-%05d" % i
            iam.create_user(UserName=user)
            k = iam.create_access_key(UserName=user)["AccessKey"]
            users.append(user)
            folder = "/bench/%s" % user
            inf("POST", "folders", {"projectId": plan_scale.PROJECT, "environment": "prod",
                                    "path": folder})
            for key, value in (("AWS_ACCESS_KEY_ID", k["AccessKeyId"]),
                               ("AWS_SECRET_ACCESS_KEY", k["SecretAccessKey"])):
                inf("POST", "secrets", {"projectId": plan_scale.PROJECT, "environment": "prod",
                                        "secretPath": folder, "secretKey": key,
                                        "secretValue": value})
            path = os.path.join(etc, user + ".env")
            with open(path, "w") as f:
                f.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n"
                        % (k["AccessKeyId"], k["SecretAccessKey"]))
            os.chmod(path, 0o600)
        renv = dict(env, INFISICAL_CLIENT_ID=plan_scale.CID,
                    INFISICAL_CLIENT_SECRET=plan_scale.CSECRET, HOME=tmp)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "ROTOR_TEST_TIME"):
            renv.pop(k, None)

        # rotor, with moto's CPU time around it
        cpu0 = cpu_seconds(moto.pid)
        t0 = time.monotonic()
        r = subprocess.run([a.rotor, "plan", "--config", os.path.join(tmp, "rotor.yaml"),
                            "--parallel", str(a.parallel), man], env=renv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rotor_wall = time.monotonic() - t0
        moto_cpu = cpu_seconds(moto.pid) - cpu0
        if r.returncode not in (0, 2):
            sys.stderr.write(r.stderr[-2000:])
            raise SystemExit("rotor plan exited %d" % r.returncode)
        summary = r.stdout.rstrip("\n").rsplit("\n", 1)[-1]

        # the SOP loop, same users, same moto
        t0 = time.monotonic()
        calls = 0
        for user in users:
            out = subprocess.run(["aws", "iam", "list-access-keys", "--user-name", user,
                                  "--endpoint-url", url, "--output", "json"], env=env,
                                 stdout=subprocess.PIPE, check=True).stdout
            calls += 1
            for key in json.loads(out)["AccessKeyMetadata"]:
                subprocess.run(["aws", "iam", "get-access-key-last-used", "--access-key-id",
                                key["AccessKeyId"], "--endpoint-url", url, "--output", "json"],
                               env=env, stdout=subprocess.DEVNULL, check=True)
                calls += 1
        sop_wall = time.monotonic() - t0

        n = float(a.n)
        print("moto (unmodified), %d users with one key each, rotor plan --parallel %d"
              % (a.n, a.parallel))
        print("  rotor plan   %7.2f s   %6.1f ms/user   (%s)" % (rotor_wall,
                                                                 rotor_wall / n * 1000, summary))
        print("  SOP loop     %7.2f s   %6.1f ms/user   (%d aws CLI calls)" % (
            sop_wall, sop_wall / n * 1000, calls))
        print("  SOP / rotor  %7.1fx per user" % (sop_wall / rotor_wall))
        print("  moto floor   %7.2f s   (moto's CPU while serving rotor's pass; rotor/floor "
              "%.2fx)" % (moto_cpu, rotor_wall / moto_cpu if moto_cpu else float("inf")))
        print("  rotor's requests: 3 IAM + 1 STS a user in this steady state (bench/plan_scale.py"
              " counts them), so moto spends %.1f ms of CPU a request"
              % (moto_cpu / (4 * n) * 1000))
    finally:
        plan_scale.stop_all(procs, tmp)


if __name__ == "__main__":
    main()
