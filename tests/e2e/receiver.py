#!/usr/bin/env python3
"""receiver.py: a notification receiver for the tests (stdlib only).

Usage: receiver.py --port 0 --lifetime SECONDS --log FILE

Prints "PORT n" when it listens. Every POST is appended to FILE as one JSON
line {"path", "headers", "body", "answered"}. How it answers depends on the
path's first part after the sink name (/NAME/MODE...):
  /NAME/ok            200 "ok"
  /NAME/fail/N        500 for the first N requests to this path, then 200
  /NAME/slow/MS       200 after MS milliseconds
"""
import argparse, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = {}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        parts = self.path.strip("/").split("/")
        mode = parts[1] if len(parts) > 1 else "ok"
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            count = seen[self.path]
        status = 200
        if mode == "fail" and count <= int(parts[2]):
            status = 500
        if mode == "slow":
            time.sleep(int(parts[2]) / 1000.0)
        with lock, open(self.server.log, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers.items()),
                                "body": body, "answered": status}) + "\n")
        out = b"ok" if status == 200 else b"error"
        self.send_response(status)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--log", required=True)
    o = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", o.port), H)
    srv.daemon_threads = True
    srv.log = o.log
    t = threading.Timer(o.lifetime, os._exit, args=(0,))
    t.daemon = True
    t.start()
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()

if __name__ == "__main__":
    sys.exit(main())
