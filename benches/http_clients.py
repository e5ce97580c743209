#!/usr/bin/env python3
"""Load on tally's HTTP server for benches/http_load.sh: POLLERS clients each GET /metrics once
a second, and STREAMS clients hold /api/queries/QUERY/changes open, reading every event. Runs
until killed; waits for the server to come up. Prints how many requests and events it got.

Usage: http_clients.py ADDR QUERY [POLLERS] [STREAMS]
"""
import http.client
import os
import signal
import sys
import threading
import time

addr, query = sys.argv[1], sys.argv[2]
pollers = int(sys.argv[3]) if len(sys.argv) > 3 else 50
streams = int(sys.argv[4]) if len(sys.argv) > 4 else 10
host, port = addr.rsplit(":", 1)
counts = {"requests": 0, "failed": 0, "events": 0}
lock = threading.Lock()


def count(key, n=1):
    with lock:
        counts[key] += n


def poller():
    while True:
        started = time.monotonic()
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=10)
            c.request("GET", "/metrics")
            c.getresponse().read()
            c.close()
            count("requests")
        except OSError:
            # Not up yet (or gone): try again soon, without spinning on the job's cores.
            count("failed")
            time.sleep(0.25)
            continue
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def streamer():
    while True:
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            c.request("GET", f"/api/queries/{query}/changes")
            r = c.getresponse()
            # Read in large chunks and count the lines that begin an event (a chunk may end
            # inside `\nevent:`: its last bytes are kept for the next). A client that parsed
            # every line in Python would take more of the job's cores than the server does.
            tail = b"\n"
            while True:
                chunk = r.read1(1 << 20)
                if not chunk:
                    break
                both = tail + chunk
                count("events", both.count(b"\nevent:"))
                tail = both[-6:]
        except OSError:
            time.sleep(0.25)


for _ in range(pollers):
    threading.Thread(target=poller, daemon=True).start()
for _ in range(streams):
    threading.Thread(target=streamer, daemon=True).start()


def done(*_):
    t = os.times()
    print(
        f"requests={counts['requests']} failed={counts['failed']} events={counts['events']} "
        f"client_cpu_s={t.user + t.system:.2f}"
    )
    sys.exit(0)


signal.signal(signal.SIGTERM, done)
signal.signal(signal.SIGINT, done)
while True:
    time.sleep(1)
