#!/usr/bin/env python3
"""http_faults.py: an HTTP server that misbehaves on request, for the transport tests.

Usage: http_faults.py --port 0 --lifetime SECONDS

Binds 127.0.0.1, prints "PORT <n>" when ready and exits by itself after its
lifetime. Every route answers GET and POST (and PATCH, PUT, DELETE):

  /ok                       200 "hello"
  /echo                     200 with the method, the X-Test header and the body
  /status/<code>            that status
  /flaky/<key>/<n>/<code>   <code> for the first n requests with key, then 200
  /throttle/<key>/<n>/<s>   429 with Retry-After: <s> for the first n, then 200
  /slow/<ms>                headers (Content-Length 10), a pause of ms, the body
  /truncated                Content-Length 1000 but 10 bytes, then a close
  /big/<bytes>              a body of that many bytes (?nolength=1: no
                            Content-Length, the body ends with the connection)
  /drop/<key>/<n>           closes without a response for the first n, then 200
  /count/<key>              how many requests the routes above saw for key

Error bodies are "status <code>" unless ?body=... says otherwise (a provider's
classifier may look for "Throttling" in a 400). Every response carries
X-Client-Port, the client's source port, so tests can see connection reuse.
"""

import argparse
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
counts_lock = threading.Lock()


def seen(key):
    """Counts one more request for key and returns the new count."""
    with counts_lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    disable_nagle_algorithm = True  # no 40 ms stall per reply (doublelib.QuietHandler)

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=None, length=True):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("X-Client-Port", str(self.client_address[1]))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        # Read the whole request body so the connection stays usable.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route, args = parts[0], parts[1:]

        def error_body(code):
            return query.get("body", ["status %d" % code])[0]

        if route == "ok":
            self.reply(200, "hello")
        elif route == "echo":
            text = "method: %s\nx-test: %s\nbody: " % (self.command, self.headers.get("X-Test", ""))
            self.reply(200, text.encode() + body)
        elif route == "status" and len(args) == 1:
            self.reply(int(args[0]), error_body(int(args[0])))
        elif route == "flaky" and len(args) == 3:
            key, n, code = args[0], int(args[1]), int(args[2])
            if seen(key) <= n:
                self.reply(code, error_body(code))
            else:
                self.reply(200, "recovered")
        elif route == "throttle" and len(args) == 3:
            key, n, secs = args[0], int(args[1]), args[2]
            if seen(key) <= n:
                self.reply(429, error_body(429), {"Retry-After": secs})
            else:
                self.reply(200, "recovered")
        elif route == "slow" and len(args) == 1:
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(int(args[0]) / 1000.0)
            self.wfile.write(b"0123456789")
        elif route == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        elif route == "big" and len(args) == 1:
            self.reply(200, b"x" * int(args[0]), length="nolength" not in query)
        elif route == "drop" and len(args) == 2:
            if seen(args[0]) <= int(args[1]):
                self.close_connection = True
            else:
                self.reply(200, "recovered")
        elif route == "count" and len(args) == 1:
            with counts_lock:
                self.reply(200, str(counts.get(args[0], 0)))
        else:
            self.reply(404, "no route %s" % url.path)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=300)
    opts = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    timer = threading.Timer(opts.lifetime, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
