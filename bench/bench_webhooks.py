"""Webhook fan-out: deliveries/s of one worker process to a local receiver (target ≥ 200/s).

Runs the worker's loop body (WebhookDelivery.deliver_one: claim, render, sign, POST through
operator_site.lib.http, record) in-process against a threaded HTTP receiver on 127.0.0.1.
Default 500 deliveries; BENCH_FULL=1 delivers 5,000.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def run():
    from django.test import override_settings

    from observability.events import emit
    from settings_ui.models import Webhook, WebhookDelivery
    from settings_ui.webhook_protocol import generate_secret

    n = 5000 if os.environ.get("BENCH_FULL") == "1" else 500
    print(f"   size: {n} deliveries ({'BENCH_FULL' if n == 5000 else 'default'})", flush=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    rows = []
    with override_settings(OPERATOR_WEBHOOK_ALLOW_PRIVATE=True):
        Webhook.objects.filter(label__startswith="bench-").delete()
        for fmt in ("discord", "generic", "slack"):
            hook = Webhook.create_from({"url": url, "events": ["bench.*"], "format": fmt,
                                        "label": f"bench-{fmt}", "secret": generate_secret()})
            WebhookDelivery.objects.filter(webhook=hook).delete()
            for i in range(n):
                emit("bench.event", target=("chain", str(i)), data={"i": i, "status": "failed"})
            ids = list(WebhookDelivery.objects.filter(webhook=hook, status="pending")
                       .values_list("pk", flat=True))
            started, cpu_started = time.perf_counter(), time.process_time()
            delivered = sum(WebhookDelivery.deliver_one(pk) for pk in ids)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            ok = WebhookDelivery.objects.filter(webhook=hook, status="succeeded").count()
            rate = delivered / elapsed
            rows.append((f"deliveries/s ({fmt}, signed)", rate, "per s",
                         f"{rate / 200:.1f}× the 200/s target; {ok}/{len(ids)} succeeded"))
            # Wall time suffers when other processes share the cores; CPU time (this process,
            # receiver threads included) shows what one worker costs regardless.
            rows.append((f"deliveries per CPU-second ({fmt})", delivered / cpu, "per cpu-s",
                         f"{delivered / cpu / 200:.1f}× the 200/s target"))
            hook.disable()  # later bench.* events must not fan out to it
        Webhook.objects.filter(label__startswith="bench-").delete()
    server.shutdown()
    server.server_close()
    return rows
