#!/usr/bin/env python3
"""metadata_double.py: the container credentials endpoint and IMDSv2, for the credential chain tests.

Usage: metadata_double.py --port 0 --lifetime SECONDS
                          [--akid AKID] [--secret SECRET] [--token TOKEN]
                          [--expiration RFC3339] [--container-token VALUE]
                          [--role-name NAME] [--no-role] [--verbose]

Binds 127.0.0.1 and prints "PORT <n>" when ready (doublelib.serve). Both
services hand out the credentials given on the command line (or set later
through the control API), in the JSON shapes AWS uses:

Container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/creds, or a
FULL_URI pointing here):
  GET /creds     200 {"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
                 "RoleArn"}. With --container-token, the Authorization header
                 must equal it exactly, else 401.

IMDSv2 (as on EC2; no IMDSv1):
  PUT /latest/api/token
                 needs X-aws-ec2-metadata-token-ttl-seconds in 1..21600 (else
                 400); replies with a fresh session token (text/plain).
  GET /latest/meta-data/iam/security-credentials/
                 the role name (404 with --no-role).
  GET /latest/meta-data/iam/security-credentials/<role>
                 200 {"Code": "Success", "LastUpdated", "Type": "AWS-HMAC",
                 "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}.
  Every GET under /latest/ needs X-aws-ec2-metadata-token with a token this
  double issued, else 401 (a GET without one is what IMDSv1 would send).

Control API (JSON):
  GET  /_control/calls        {"container": n, "imds_token": n, "imds_role": n,
                               "imds_credentials": n, "unauthorized": n}
  POST /_control/credentials  {"akid"?, "secret"?, "token"?, "expiration"?}
                              changes what both services hand out
  POST /_control/reset        zeroes the counters
"""

import datetime
import os
import secrets
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doublelib  # noqa: E402
from doublelib import BadRequest  # noqa: E402

ROLE_PREFIX = "/latest/meta-data/iam/security-credentials/"


class State:
    def __init__(self, opts):
        self.lock = threading.Lock()
        self.creds = {"akid": opts.akid, "secret": opts.secret, "token": opts.token,
                      "expiration": opts.expiration}
        self.tokens = set()
        self.calls = {}

    def count(self, name):
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def credentials(self):
        with self.lock:
            c = dict(self.creds)
        out = {"AccessKeyId": c["akid"], "SecretAccessKey": c["secret"]}
        if c["token"]:
            out["Token"] = c["token"]
        if c["expiration"]:
            out["Expiration"] = c["expiration"]
        return out


class Handler(doublelib.QuietHandler):
    def state(self):
        return self.server.state

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_control/"):
                return self.control(method, path)
            body = doublelib.read_body(self)
            del body
            if path == "/creds" and method == "GET":
                return self.container()
            if path == "/latest/api/token" and method == "PUT":
                return self.imds_token()
            if path.startswith("/latest/") and method == "GET":
                return self.imds_get(path)
            doublelib.send_body(self, 404, "not found\n")
        except BadRequest as e:
            doublelib.send_body(self, e.status, str(e) + "\n")

    # -- container endpoint

    def container(self):
        st = self.state()
        st.count("container")
        want = self.server.opts.container_token
        if want is not None and self.headers.get("Authorization") != want:
            st.count("unauthorized")
            return doublelib.send_json(self, 401, {"code": "Unauthorized",
                                                   "message": "bad authorization token"})
        reply = st.credentials()
        reply["RoleArn"] = "arn:aws:iam::123456789012:role/%s" % self.server.opts.role_name
        doublelib.send_json(self, 200, reply)

    # -- IMDSv2

    def imds_token(self):
        st = self.state()
        st.count("imds_token")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        try:
            ok = ttl is not None and 1 <= int(ttl) <= 21600
        except ValueError:
            ok = False
        if not ok:
            return doublelib.send_body(self, 400, "missing or invalid "
                                       "X-aws-ec2-metadata-token-ttl-seconds\n")
        token = "AQAEA" + secrets.token_urlsafe(40)
        with st.lock:
            st.tokens.add(token)
        doublelib.send_body(self, 200, token, headers={
            "X-aws-ec2-metadata-token-ttl-seconds": ttl})

    def imds_get(self, path):
        st = self.state()
        token = self.headers.get("X-aws-ec2-metadata-token")
        with st.lock:
            known = token in st.tokens
        if not known:
            st.count("unauthorized")
            return doublelib.send_body(self, 401, "")
        opts = self.server.opts
        if path == ROLE_PREFIX:
            st.count("imds_role")
            if opts.no_role:
                return doublelib.send_body(self, 404, "")
            return doublelib.send_body(self, 200, opts.role_name)
        if path == ROLE_PREFIX + opts.role_name and not opts.no_role:
            st.count("imds_credentials")
            reply = {"Code": "Success",
                     "LastUpdated": doublelib.iso(self.server.clock.now()),
                     "Type": "AWS-HMAC"}
            reply.update(st.credentials())
            return doublelib.send_json(self, 200, reply)
        doublelib.send_body(self, 404, "")

    # -- control

    def control(self, method, path):
        st = self.state()
        route = path[len("/_control/"):].strip("/")
        if route == "calls" and method == "GET":
            with st.lock:
                calls = dict(st.calls)
            return doublelib.send_json(self, 200, calls)
        if route == "reset" and method == "POST":
            doublelib.read_body(self)
            with st.lock:
                st.calls = {}
            return doublelib.send_json(self, 200, {"ok": True})
        if route == "credentials" and method == "POST":
            body = doublelib.read_json(self)
            with st.lock:
                for key in ("akid", "secret", "token", "expiration"):
                    if key in body:
                        st.creds[key] = body[key]
            return doublelib.send_json(self, 200, {"ok": True})
        raise BadRequest("no such control route: %s %s" % (method, path), 404)


def default_expiration():
    now = datetime.datetime.now(datetime.timezone.utc)
    return doublelib.iso(now + datetime.timedelta(hours=6))


def add_arguments(parser):
    parser.add_argument("--akid", default="ASIAMETADATADOUBLE01")
    parser.add_argument("--secret", default="metadataDoubleSecretKey0000000000000000")
    parser.add_argument("--token", default="metadataDoubleSessionToken")
    parser.add_argument("--expiration", default=None,
                        help="RFC 3339; default 6 hours from now; '' for none")
    parser.add_argument("--container-token", default=None,
                        help="the Authorization value /creds requires")
    parser.add_argument("--role-name", default="rotor-instance-role")
    parser.add_argument("--no-role", action="store_true",
                        help="IMDS: no IAM role attached (404)")


def setup(server, opts):
    if opts.expiration is None:
        opts.expiration = default_expiration()
    server.state = State(opts)


def main(argv=None):
    return doublelib.serve(Handler, argv, description=__doc__.splitlines()[0],
                           add_arguments=add_arguments, setup=setup)


if __name__ == "__main__":
    sys.exit(main())
