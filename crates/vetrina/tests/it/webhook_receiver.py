"""A merchant's webhook endpoint for the tests: verifies every request with the Standard Webhooks
reference library (PyPI `standardwebhooks`), answers 500 to the first request (to see a retry),
then 204, and prints one JSON line per request: id, type, whether the signature verified."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

port, secret = int(sys.argv[1]), sys.argv[2]
verifier = Webhook(secret)
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            event = verifier.verify(body, dict(self.headers))
            result = {"id": self.headers.get("webhook-id"), "type": event["type"], "data": event["data"], "ok": True}
        except Exception as e:  # noqa: BLE001 - any failure is a failed verification
            result = {"id": self.headers.get("webhook-id"), "ok": False, "error": str(e)}
        print(json.dumps(result), flush=True)
        self.send_response(500 if seen == 1 else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
