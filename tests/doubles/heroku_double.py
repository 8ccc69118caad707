#!/usr/bin/env python3
"""heroku_double.py: a Heroku Platform API test double (config vars) for rotor.

Usage: heroku_double.py --port 0 --lifetime SECONDS [--clock-file PATH] [--verbose]

Plays the part of the Platform API that rotor uses, as
/work/shared/api/consumers.md and Heroku's reference describe it:

- `GET /apps/{app}/config-vars` -> 200, a flat JSON object of every config
  var; `PATCH /apps/{app}/config-vars` with only the vars to change (a null
  value deletes one) -> 200 with the full, updated object. Every PATCH makes
  a new release and restarts the app (counted: `releases`, so a test proves
  that rotor never writes what is already there). All config vars of an app
  together are limited to 32 KB (422 invalid_params).
- Headers: `Accept: application/vnd.heroku+json; version=3` is required
  (else 400 missing_version); `Authorization: Bearer TOKEN` (none or an
  unknown token: 401 unauthorized); a token sees only the apps it is given
  (an app that exists but is not the token's: 403 forbidden; no such app:
  404 not_found "Couldn't find that app.").
- Errors are `{"id": ..., "message": ...}`; every reply has a `Request-Id`
  (a UUID) and `RateLimit-Remaining`: a bucket of 4,500 tokens per token
  (account), one per request, refilled at 75 a minute of the shared clock;
  empty: 429 rate_limit. `GET /account/rate-limits` does not count.
- Faults (doublelib): match names `config-vars:GET`, `config-vars:PATCH`
  (or `*`); kinds throttle (429 rate_limit), error500, error, drop,
  drop_after (the PATCH is applied, the reply lost), latency, hang.

Control routes (JSON): POST /_control/apps {"name", "vars": {}, "id"?};
POST /_control/tokens {"token", "apps": [names] | "*"};
POST /_control/vars {"app", "vars": {}} (an edit by hand: a release too);
POST /_control/settings {"bucket": N} (the tokens left now, for every token);
GET /_control/state; plus doublelib's faults, calls, clock, snapshot.
"""

import json
import sys
import urllib.parse
import uuid

import doublelib
from doublelib import BadRequest, iso

BUCKET = 4500
REFILL_PER_MINUTE = 75
VARS_MAX = 32 * 1024
ACCEPT = "application/vnd.heroku+json; version=3"


class ApiError(Exception):
    def __init__(self, status, ident, message):
        super().__init__(message)
        self.status, self.ident, self.message = status, ident, message


class State(doublelib.State):
    def reset(self):
        with self.lock:
            self.apps = {}     # name -> {"id", "vars", "releases", "history"}
            self.tokens = {}   # token -> {"apps": set or "*", "left": float, "at": datetime}
            self.calls = []
            self.seq = 0

    def take_token(self, token, now):
        """One request from token's bucket; the tokens left after it, or -1."""
        t = self.tokens[token]
        t["left"] = min(BUCKET, t["left"] + (now - t["at"]).total_seconds() * REFILL_PER_MINUTE / 60)
        t["at"] = now
        if t["left"] < 1:
            return -1
        t["left"] -= 1
        return int(t["left"])

    def app_for(self, token, name):
        app = self.apps.get(name) or next((a for a in self.apps.values() if a["id"] == name), None)
        if app is None:
            raise ApiError(404, "not_found", "Couldn't find that app.")
        allowed = self.tokens[token]["apps"]
        if allowed != "*" and app["name"] not in allowed:
            raise ApiError(403, "forbidden", "You do not have access to the app %s." % app["name"])
        return app

    def release(self, app, vars_, by):
        app["vars"] = vars_
        app["releases"] += 1
        app["history"].append({"version": app["releases"], "by": by,
                               "time": iso(self.clock.now()), "changed": sorted(vars_)})


def vars_size(v):
    return sum(len(k.encode()) + len(x.encode()) for k, x in v.items())


class Handler(doublelib.ControlRoutes, doublelib.QuietHandler):
    server_version = "heroku-double/1"

    def reply(self, status, obj, headers):
        doublelib.send_body(self, status, json.dumps(obj) + "\n", "application/json", headers)

    def api(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        headers = {"Request-Id": str(uuid.uuid4())}
        entry = {"time": iso(self.server.clock.now()), "method": self.command, "path": path,
                 "app": None, "status": None, "error": None, "fault": None}
        try:
            raw = doublelib.read_body(self)
        except BadRequest as e:
            self.close_connection = True
            return self.reply(e.status, {"id": "bad_request", "message": str(e)}, headers)
        parts = path.strip("/").split("/")
        route = None
        if len(parts) == 3 and parts[0] == "apps" and parts[2] == "config-vars" \
                and self.command in ("GET", "PATCH"):
            route = "config-vars:" + self.command
            entry["app"] = urllib.parse.unquote(parts[1])
        elif path == "/account/rate-limits" and self.command == "GET":
            route = "rate-limits"
        fault = self.server.faults.check(route or "unknown")
        if fault:
            entry["fault"] = fault.kind
            doublelib.fault_pause(fault)
            if fault.kind in ("drop", "hang"):
                entry["status"] = 0
                st.log(entry)
                return doublelib.drop_connection(self)
            if fault.kind in ("throttle", "error500", "error"):
                e = (ApiError(429, "rate_limit", "Your account reached the API rate limit\n"
                              "Please wait a few minutes before making new requests")
                     if fault.kind == "throttle" else
                     ApiError(500, "internal_server_error", "Internal server error.")
                     if fault.kind == "error500" else
                     ApiError(fault.status, fault.code, fault.message or "Injected fault"))
                entry["status"], entry["error"] = e.status, e.ident
                st.log(entry)
                return self.reply(e.status, {"id": e.ident, "message": e.message}, headers)
        with st.lock:
            try:
                status, obj = self.handle_api(st, route, entry, raw, headers)
            except ApiError as e:
                status, obj = e.status, {"id": e.ident, "message": e.message}
                entry["error"] = e.ident
        entry["status"] = status
        st.log(entry)
        if fault and fault.kind == "drop_after":
            return doublelib.drop_connection(self)
        self.reply(status, obj, headers)

    def handle_api(self, st, route, entry, raw, headers):
        now = self.server.clock.now()
        if route is None:
            raise ApiError(404, "not_found", "The requested API endpoint was not found. Are you "
                           "using the right HTTP verb (i.e. `GET` vs. `POST`), and did you "
                           "specify your intended version with the `Accept` header?")
        if ACCEPT not in [a.strip() for a in self.headers.get("Accept", "").split(",")]:
            raise ApiError(400, "missing_version", "Please specify a version along with "
                           "Heroku's API MIME type. For example, `Accept: "
                           "application/vnd.heroku+json; version=3`.")
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise ApiError(401, "unauthorized", "There were no credentials in your "
                           "`Authorization` header. Try `Authorization: Bearer <OAuth access "
                           "token>` or `Authorization: Basic <base64-encoded email + \":\" + "
                           "password>`.")
        token = auth[7:]
        if token not in st.tokens:
            raise ApiError(401, "unauthorized", "Invalid credentials provided.")
        if route == "rate-limits":
            t = st.tokens[token]
            return 200, {"remaining": int(t["left"])}
        left = st.take_token(token, now)
        if left < 0:
            headers["RateLimit-Remaining"] = "0"
            raise ApiError(429, "rate_limit", "Your account reached the API rate limit\n"
                           "Please wait a few minutes before making new requests")
        headers["RateLimit-Remaining"] = str(left)
        app = st.app_for(token, entry["app"])
        if route == "config-vars:GET":
            return 200, dict(app["vars"])
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise ApiError(400, "bad_request", "Request body must be JSON (Content-Type: "
                           "application/json).")
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_request", "Invalid JSON in request body.")
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_params", "Invalid params provided.")
        new = dict(app["vars"])
        for k, v in body.items():
            if v is None:
                new.pop(k, None)
            elif isinstance(v, str):
                new[k] = v
            else:
                raise ApiError(422, "invalid_params", "Config var values must be strings.")
        if vars_size(new) > VARS_MAX:
            raise ApiError(422, "invalid_params", "Config vars too large: the limit is 32kb.")
        st.release(app, new, "api")
        return 200, dict(new)

    # -- control

    def c_post_apps(self, body, query):
        name = str(body["name"])
        self.server.state.apps[name] = {"name": name, "id": str(body.get("id") or uuid.uuid4()),
                                        "vars": dict(body.get("vars") or {}), "releases": 0,
                                        "history": []}
        return 200, {"app": name}

    def c_post_tokens(self, body, query):
        apps = body.get("apps", "*")
        self.server.state.tokens[str(body["token"])] = {
            "apps": apps if apps == "*" else set(apps), "left": float(BUCKET),
            "at": self.server.clock.now()}
        return 200, {"token": "set"}

    def c_post_vars(self, body, query):
        st = self.server.state
        app = st.apps.get(str(body["app"]))
        if app is None:
            raise BadRequest("no app %r" % body["app"], 404)
        new = dict(app["vars"])
        new.update(body.get("vars") or {})
        st.release(app, new, "human")
        return 200, {"releases": app["releases"]}

    def c_post_settings(self, body, query):
        st = self.server.state
        for t in st.tokens.values():
            if "bucket" in body:
                t["left"] = float(body["bucket"])
                t["at"] = self.server.clock.now()
        return 200, {"ok": True}

    def c_get_state(self, body, query):
        st = self.server.state
        return 200, {"now": iso(self.server.clock.now()),
                     "apps": {n: {"id": a["id"], "vars": a["vars"], "releases": a["releases"],
                                  "history": a["history"]} for n, a in st.apps.items()},
                     "tokens": {t: {"left": int(v["left"])} for t, v in st.tokens.items()}}


def setup(server, opts):
    server.state = State(server.clock)


def main(argv=None):
    return doublelib.serve(Handler, argv, description=__doc__.splitlines()[0], setup=setup)


if __name__ == "__main__":
    sys.exit(main())
