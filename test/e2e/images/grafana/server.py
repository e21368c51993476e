"""Grafana stand-in: validates the provisioning a real Grafana would load, then serves
/api/health and /api/search (basic auth with GF_SECURITY_ADMIN_USER/PASSWORD)."""
import base64
import glob
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

PROVISIONING = "/etc/grafana/provisioning"


def fail(message):
    print("grafana-standin: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def load_provisioning():
    datasources = []
    for path in glob.glob(PROVISIONING + "/datasources/*.y*ml"):
        datasources += (yaml.safe_load(open(path)) or {}).get("datasources", [])
    if not datasources:
        fail("no datasource in %s/datasources" % PROVISIONING)
    folders = []
    for path in glob.glob(PROVISIONING + "/dashboards/*.y*ml"):
        for provider in (yaml.safe_load(open(path)) or {}).get("providers", []):
            folders.append(provider["options"]["path"])
    dashboards = []
    for folder in folders:
        for path in glob.glob(folder + "/*.json"):
            board = json.load(open(path))
            dashboards.append({"uid": board["uid"], "title": board["title"], "type": "dash-db"})
    if not dashboards:
        fail("no dashboard found in the provisioned folders %s" % folders)
    return datasources, dashboards


USER = os.environ.get("GF_SECURITY_ADMIN_USER", "")
PASSWORD = os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "")
if USER == "" or PASSWORD == "":
    fail("GF_SECURITY_ADMIN_USER and GF_SECURITY_ADMIN_PASSWORD must be set")
DATASOURCES, DASHBOARDS = load_provisioning()
EXPECTED = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/api/health":
            return self.reply(200, {"database": "ok", "version": "stand-in"})
        if self.path.startswith("/api/search"):
            if not hmac.compare_digest(self.headers.get("Authorization", ""), EXPECTED):
                return self.reply(401, {"message": "Unauthorized"})
            return self.reply(200, DASHBOARDS)
        return self.reply(404, {"message": "Not found"})

    def log_message(self, *args):
        pass


print("grafana-standin: datasources %s, dashboards %s" % ([d.get("name") for d in DATASOURCES], [d["title"] for d in DASHBOARDS]), flush=True)
ThreadingHTTPServer(("0.0.0.0", 3000), Handler).serve_forever()
