"""The Swarm e2e app: GET / answers {"version", "host"}; GET /health answers ok.

SIGTERM stops accepting new connections and lets the requests in flight finish (a task
being replaced must not cut the answers it is sending).
"""
import json
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "unknown")
HOST = socket.gethostname()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
            kind = "text/plain"
        else:
            body = (json.dumps({"version": VERSION, "host": HOST}) + "\n").encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
server.daemon_threads = False
server.block_on_close = True


def stop(_signum, _frame):
    threading.Thread(target=server.shutdown, daemon=True).start()


signal.signal(signal.SIGTERM, stop)
print(f"app {VERSION} on {HOST}:8000", flush=True)
server.serve_forever()
server.server_close()
