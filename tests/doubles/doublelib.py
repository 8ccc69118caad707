"""doublelib.py: the pieces every rotor test double shares.

Standard library only. A double is a module with a BaseHTTPRequestHandler
subclass (usually derived from QuietHandler) and a main() that calls serve():

    serve(Handler, sys.argv[1:], add_arguments=..., setup=...)

serve() parses the common flags

    --port N            0 (default) picks a free port
    --lifetime SECONDS  the process exits by itself after this (default 300)
    --clock-file PATH   the settable clock shared with rotor (ROTOR_TEST_TIME)
    --verbose           one line per request on stderr

plus the double's own, binds 127.0.0.1, prints "PORT <n>" on stdout when it
listens, and exits 0 on SIGTERM/SIGINT. The server object carries `opts`,
`clock` (a Clock) and `faults` (a Faults) for the handlers.

Clock: rotor reads the same file through ROTOR_TEST_TIME=PATH (rotor only
treats the value as a path when it starts with "/", so pass an absolute
path). The file holds one RFC 3339 UTC timestamp in whole seconds, e.g.
"2026-11-22T10:00:00Z\n"; absent or empty means real UTC time.

Faults: rules installed through a double's control API, checked once per
remote call before normal processing:

    {"match": "CreateAccessKey" | "*" | "iam:*" | "sts:GetCallerIdentity",
     "kind": "throttle" | "error500" | "error" | "drop" | "drop_after"
             | "latency" | "hang",
     "after": 0,          # let the first k matching calls through
     "count": 1,          # then apply to n calls; -1 = forever
     "latency_ms": 0,     # latency: the pause; hang: overrides the 30 s
     "status": 409, "code": "ConcurrentModification", "message": "..."}
                          # kind "error" only: an arbitrary error reply

Every matching rule counts every call it matches; the first rule that is
due fires (and only it uses up one of its count).

Snapshots: POST /_control/snapshot {"name": N} keeps a deep copy of the
double's whole state (its State object but the lock, the clock and the
options: users, keys, secrets, sessions, settings, the call log and its
sequence numbers) and of its fault rules and call counts; POST
/_control/restore {"name": N} puts that copy back, as often as asked. A
test that would replay the same set-up before each case snapshots once
and restores. The shared clock is a file the test owns: it saves and
restores it itself.
"""

import argparse
import copy
import datetime
import email.utils
import itertools
import json
import os
import signal
import socket
import sys
import threading
import urllib.parse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UTC = datetime.timezone.utc

# ---------------------------------------------------------------- time


def iso(dt):
    """2026-11-22T10:00:00Z: UTC, whole seconds (the form AWS replies with)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    """Parses an RFC 3339 timestamp ("Z" or an offset, optional fraction)
    into an aware UTC datetime; raises ValueError."""
    s = text.strip()
    if not s:
        raise ValueError("empty timestamp")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    if "T" not in s and "t" not in s:
        raise ValueError("not an RFC 3339 timestamp: %r" % text)
    dt = datetime.datetime.fromisoformat(s.replace("t", "T"))
    if dt.tzinfo is None:
        raise ValueError("timestamp without a zone: %r" % text)
    return dt.astimezone(UTC)


def real_now():
    return datetime.datetime.now(UTC)


class Clock:
    """The settable wall clock shared with rotor through a file.

    Without a file every method works on real time, and set()/advance()
    raise RuntimeError. Reads happen on every now(), so a test (or rotor's
    test harness) may rewrite the file at any moment."""

    def __init__(self, path=None):
        self.path = path
        self._lock = threading.RLock()
        self._warned = False

    @property
    def settable(self):
        return self.path is not None

    def now(self):
        if not self.path:
            return real_now()
        try:
            with open(self.path, "r", encoding="utf-8") as f:
                text = f.read(256).strip()
        except FileNotFoundError:
            return real_now()
        if not text:
            return real_now()
        try:
            return parse_iso(text)
        except ValueError:
            if not self._warned:
                self._warned = True
                sys.stderr.write("doublelib: clock file %s holds %r; using real time\n"
                                 % (self.path, text))
            return real_now()

    def set(self, dt):
        if not self.path:
            raise RuntimeError("no --clock-file: the clock is real time")
        if dt.tzinfo is None:
            raise ValueError("set() needs an aware datetime")
        with self._lock:
            tmp = "%s.tmp.%d.%d" % (self.path, os.getpid(), threading.get_ident())
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(iso(dt) + "\n")
            os.replace(tmp, self.path)
        return dt.astimezone(UTC).replace(microsecond=0)

    def advance(self, seconds):
        if not self.path:
            raise RuntimeError("no --clock-file: the clock is real time")
        with self._lock:  # read + write as one step against concurrent advances
            return self.set(self.now() + datetime.timedelta(seconds=float(seconds)))


# ---------------------------------------------------------------- faults

FAULT_KINDS = ("throttle", "error500", "error", "drop", "drop_after", "latency", "hang")


class Fault:
    """One rule; `seen` counts matching calls, `applied` the ones it hit."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        self.match = str(spec.get("match", "*"))
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % ", ".join(FAULT_KINDS))
        self.after = int(spec.get("after", 0))
        self.count = int(spec.get("count", 1))
        self.latency_ms = int(spec.get("latency_ms", 0))
        self.status = int(spec.get("status", 500))
        self.code = str(spec.get("code", "ServiceFailure"))
        self.message = spec.get("message")
        self.shape = spec.get("shape")  # the error document's shape (aws_double.ERROR_SHAPES)
        if self.after < 0 or self.count < -1 or self.latency_ms < 0:
            raise ValueError("after, count and latency_ms must not be negative (count may be -1)")
        self.seen = 0
        self.applied = 0

    def matches(self, action, service):
        m = self.match
        return m in ("*", action) or (service and m in (service + ":*", service + ":" + action))

    def to_json(self):
        d = {"match": self.match, "kind": self.kind, "after": self.after,
             "count": self.count, "seen": self.seen, "applied": self.applied}
        if self.kind in ("latency", "hang"):
            d["latency_ms"] = self.latency_ms
        if self.kind == "error":
            d.update(status=self.status, code=self.code, message=self.message)
            if self.shape:
                d["shape"] = self.shape
        return d


class Faults:
    """Thread-safe fault rules plus a count of calls per action."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._calls = {}

    def replace(self, specs):
        rules = [Fault(s) for s in specs]  # validate all before replacing
        with self._lock:
            self._rules = rules
        return [r.to_json() for r in rules]

    def clear(self):
        with self._lock:
            self._rules = []

    def reset(self):
        with self._lock:
            self._rules = []
            self._calls = {}

    def check(self, action, service=None):
        """Counts one call of action; returns the Fault to apply, or None."""
        with self._lock:
            self._calls[action] = self._calls.get(action, 0) + 1
            fired = None
            for rule in self._rules:
                if not rule.matches(action, service):
                    continue
                rule.seen += 1
                due = rule.seen > rule.after and (rule.count == -1 or rule.applied < rule.count)
                if due and fired is None:
                    rule.applied += 1
                    fired = rule
            return fired

    def calls(self):
        with self._lock:
            return dict(self._calls)

    def to_json(self):
        with self._lock:
            return {"rules": [r.to_json() for r in self._rules], "calls": dict(self._calls)}

    def snapshot(self):
        with self._lock:
            return copy.deepcopy((self._rules, self._calls))

    def restore(self, snap):
        rules, calls = copy.deepcopy(snap)
        with self._lock:
            self._rules, self._calls = rules, calls


def fault_pause(fault):
    """Sleeps for a latency or hang fault (outside any lock)."""
    if fault.kind == "latency":
        time.sleep(fault.latency_ms / 1000.0)
    elif fault.kind == "hang":
        time.sleep(fault.latency_ms / 1000.0 if fault.latency_ms else 30.0)


# ---------------------------------------------------------------- snapshots


class _Count:
    """An itertools.count inside a snapshot: counts are not copied as such
    (Python 3.14 drops their copy support)."""

    def __init__(self, n):
        self.n = n


SNAPSHOT_SKIP = ("lock", "clock", "opts")


class State:
    """The base of a small double's state: the shared clock, a lock, and a
    call log (`calls`, each entry numbered `seq`) that /_control/calls
    serves. reset() (the subclass's) fills in the rest and must clear
    calls and seq."""

    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.RLock()
        self.reset()

    def log(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.calls.append(entry)


def snapshot_state(state):
    """A deep copy of a State's attributes but its lock, clock and options,
    as one object graph: references between them (a key's user, a token's
    session) stay shared in the copy. Call with the state's lock held."""
    attrs = {}
    for name, value in vars(state).items():
        if name in SNAPSHOT_SKIP:
            continue
        if isinstance(value, itertools.count):
            n = next(value)  # reading a count consumes it: give the state a fresh one
            setattr(state, name, itertools.count(n))
            value = _Count(n)
        attrs[name] = value
    return copy.deepcopy(attrs)


def restore_state(state, snap):
    """Puts back what snapshot_state() copied; the snapshot stays usable."""
    for name, value in copy.deepcopy(snap).items():
        if isinstance(value, _Count):
            value = itertools.count(value.n)
        setattr(state, name, value)


# ---------------------------------------------------------------- HTTP helpers

MAX_BODY = 1 << 20


class BadRequest(Exception):
    """A control request the double refuses: status and message."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def drop_connection(handler):
    """Ends the connection without sending a response: the client sees an
    empty reply (EOF) where it expected a status line."""
    handler.close_connection = True
    try:
        handler.wfile.flush()
    except OSError:
        pass
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def read_body(handler, limit=MAX_BODY):
    """The request body as bytes (Content-Length only; chunked is refused)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        raise BadRequest("chunked request bodies are not supported", 411)
    try:
        n = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        raise BadRequest("bad Content-Length")
    if n < 0 or n > limit:
        raise BadRequest("request body too large", 413)
    return handler.rfile.read(n) if n else b""


def read_json(handler, body=None):
    """The request body parsed as a JSON object ({} when empty)."""
    if body is None:
        body = read_body(handler)
    if not body.strip():
        return {}
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest("body is not JSON: %s" % e)
    if not isinstance(obj, dict):
        raise BadRequest("body must be a JSON object")
    return obj


def send_body(handler, status, body, content_type="text/plain; charset=utf-8", headers=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def send_json(handler, status, obj):
    send_body(handler, status, json.dumps(obj, indent=1, sort_keys=False) + "\n",
              "application/json")


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log unless --verbose, and a client
    that hangs up mid-request is not an error.

    TCP_NODELAY: a reply goes out as two writes (the headers, then the
    body); with Nagle's algorithm the body waits for the client to
    acknowledge the headers, which a client waiting for the rest delays
    by 40 ms: every request after the first on a kept-alive connection
    took 45 ms instead of 2."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        opts = getattr(self.server, "opts", None)
        if opts is not None and getattr(opts, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def date_time_string(self, timestamp=None):
        """The Date header follows the shared clock, so that a client which
        measures clock skew from it sees the same time as from the body."""
        clock = getattr(self.server, "clock", None)
        if timestamp is None and clock is not None:
            return email.utils.format_datetime(clock.now(), usegmt=True)
        return super().date_time_string(timestamp)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True


class ControlRoutes:
    """The control routes every double serves alike: fault rules, the call
    log and the shared clock. Mixed into a double's handler, whose server
    has .faults, .state.calls and .clock."""

    def do_any(self):
        """/_control/... to the control routes, anything else to the double's
        own self.api()."""
        if urllib.parse.urlsplit(self.path).path.startswith("/_control/"):
            self.control()
        else:
            self.api()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

    def control(self):
        """Dispatches /_control/ROUTE to c_METHOD_ROUTE under the state lock."""
        url = urllib.parse.urlsplit(self.path)
        route = url.path[len("/_control/"):].strip("/")
        fn = getattr(self, "c_%s_%s" % (self.command.lower(), route.replace("-", "_")), None)
        try:
            body = read_json(self)
            if fn is None:
                raise BadRequest("no control route %s %s" % (self.command, url.path), 404)
            query = dict(urllib.parse.parse_qsl(url.query))
            with self.server.state.lock:
                status, obj = fn(body, query)
        except BadRequest as e:
            status, obj = e.status, {"error": str(e)}
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            status, obj = 400, {"error": "bad request: %r" % (e,)}
        send_json(self, status, obj)

    def c_post_reset(self, body, query):
        self.server.state.reset()
        self.server.faults.reset()
        return 200, {"ok": True}

    def c_post_snapshot(self, body, query):
        name = str(body.get("name", ""))
        self.server.snapshots[name] = (snapshot_state(self.server.state),
                                       self.server.faults.snapshot())
        return 200, {"snapshot": name}

    def c_post_restore(self, body, query):
        name = str(body.get("name", ""))
        if name not in self.server.snapshots:
            raise BadRequest("no snapshot %r" % name, 404)
        state, faults = self.server.snapshots[name]
        restore_state(self.server.state, state)
        self.server.faults.restore(faults)
        return 200, {"restored": name}

    def c_get_faults(self, body, query):
        return 200, self.server.faults.to_json()

    def c_post_faults(self, body, query):
        rules = body.get("rules")
        if not isinstance(rules, list):
            raise BadRequest('expected {"rules": [...]}')
        return 200, {"rules": self.server.faults.replace(rules)}

    def c_delete_faults(self, body, query):
        self.server.faults.clear()
        return 200, {"rules": []}

    def c_get_calls(self, body, query):
        since = int(query.get("since", 0))
        return 200, {"calls": [c for c in self.server.state.calls if c["seq"] > since]}

    def c_delete_calls(self, body, query):
        self.server.state.calls.clear()
        return 200, {"calls": []}

    def c_get_clock(self, body, query):
        return 200, {"now": iso(self.server.clock.now()), "settable": self.server.clock.settable}

    def c_post_clock(self, body, query):
        clock = self.server.clock
        if not clock.settable:
            raise BadRequest("the double runs without --clock-file")
        if "now" in body:
            clock.set(parse_iso(body["now"]))
        elif "advance" in body:
            clock.advance(float(body["advance"]))
        else:
            raise BadRequest('expected {"now": ISO} or {"advance": seconds}')
        return 200, {"now": iso(clock.now())}


# ---------------------------------------------------------------- bootstrap


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a benchmark opens many connections at once


def serve(handler_class, argv=None, *, description=None, add_arguments=None, setup=None):
    """Runs a double until its lifetime ends or SIGTERM. add_arguments(parser)
    declares the double's own flags; setup(server, opts) builds its state
    before the port is announced (raise SystemExit with a message to refuse
    the flags)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--lifetime", type=float, default=300,
                        help="exit by itself after this many seconds")
    parser.add_argument("--clock-file", default=None,
                        help="file holding the shared RFC 3339 clock (ROTOR_TEST_TIME)")
    parser.add_argument("--verbose", action="store_true", help="log requests on stderr")
    if add_arguments:
        add_arguments(parser)
    opts = parser.parse_args(argv)

    server = Server(("127.0.0.1", opts.port), handler_class)
    server.opts = opts
    server.clock = Clock(opts.clock_file)
    server.faults = Faults()
    server.snapshots = {}  # name -> (state copy, faults copy)
    if setup:
        setup(server, opts)

    # SIGTERM can arrive while the main thread is inside socketserver's
    # request handling (starting a handler thread), where an exception
    # raised here is caught and logged as a failed request and the server
    # keeps running. A test double holds nothing worth flushing: leave at
    # once, with status 0.
    def stop(signum, frame):
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.lifetime > 0:
        timer = threading.Timer(opts.lifetime, os._exit, args=(0,))
        timer.daemon = True
        timer.start()

    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
