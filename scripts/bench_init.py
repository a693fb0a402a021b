#!/usr/bin/env python3
"""Init time of Lambda binaries, measured as Lambda sees it: from spawning the process to its first
`GET /2018-06-01/runtime/invocation/next` on a local Runtime API (AWS_LAMBDA_RUNTIME_API).

    bench_init.py [--rounds N] [--warmup N] [--timeout S] NAME=PATH [NAME=PATH ...]

The first NAME is the baseline the others are compared with. Each round spawns every binary once,
one at a time, in an order shuffled per round (a fixed seed), so that a slower moment of a busy
machine falls on all of them alike. A binary is killed as soon as its request has arrived (the
request is never answered: no handler runs). Prints, per binary: median and p90 in ms, the ratio of
its median to the baseline's, and its size. Python standard library only.

Each process gets a clean environment (nothing of the caller's but PATH): the Lambda variables,
dummy credentials and region, the demo component (scripts/demo-component.env), dummy table
names, an empty HOME (no ~/.aws), and the AWS endpoints pointing to a local port that refuses
connections: init must not need the network. The caller's BENCH_INIT_ENV_* variables are added
(BENCH_INIT_ENV_FOO=bar sets FOO=bar), e.g. to try a setting.
"""

import argparse
import os
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEXT = b"GET /2018-06-01/runtime/invocation/next"


def demo_component():
    values = {}
    with open(os.path.join(ROOT, "scripts", "demo-component.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                values[name] = value
    return values


def child_env(name, runtime_port, closed_port, home):
    refused = f"http://127.0.0.1:{closed_port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        # template.yaml's LoggingConfig: JSON logs.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHINIT",
        "AWS_SECRET_ACCESS_KEY": "bench-init-dummy-secret",
        "AWS_SESSION_TOKEN": "bench-init-dummy-session",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": refused,
        "AWS_ENDPOINT_URL_DYNAMODB": refused,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": refused,
        "TICKETS_TABLE": "bench-tickets",
        "AUTHORIZERS_TABLE": "bench-authorizers",
        "AUDITS_TABLE": "bench-audits",
        "ACTIONS_TABLE": "bench-actions",
        "ROLLOUTS_TABLE": "bench-rollouts",
        "WEBHOOKS_TABLE": "bench-webhooks",
        "WEBHOOK_DELIVERIES_TABLE": "bench-webhookdeliveries",
        "ONBOARDINGS_TABLE": "bench-onboardings",
        "EVENTS_TABLE": "bench-events",
        "AUTH_CALLBACK_URL": "https://platform.example.com/auth/callback",
        # code-admin: the demo token's hash (README).
        "ADMIN_TOKEN_HASHES": "demo:f445396ad7eb62a782996bde50bd8b054463ba31530d8851cc4c66e3b47ad462",
    }
    env.update(demo_component())
    for key, value in os.environ.items():
        if key.startswith("BENCH_INIT_ENV_"):
            env[key[len("BENCH_INIT_ENV_"):]] = value
    return env


class BenchError(Exception):
    pass


class Bench:
    def __init__(self, binaries, timeout):
        self.binaries = binaries
        self.timeout = timeout
        self.home = tempfile.mkdtemp(prefix="bench-init-home-")
        self.logs = tempfile.mkdtemp(prefix="bench-init-logs-")
        # The Runtime API: one listening socket for the whole run (spawns are one at a time).
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.runtime_port = self.listener.getsockname()[1]
        # A port held bound but never listening: every connection to it is refused at once.
        self.closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.closed.bind(("127.0.0.1", 0))
        self.closed_port = self.closed.getsockname()[1]
        self.child = None

    def close(self):
        self.kill_child()
        for s in (self.listener, self.closed):
            try:
                s.close()
            except OSError:
                pass
        for d in (self.home, self.logs):
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)

    def kill_child(self):
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
        if self.child is not None:
            try:
                self.child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.child = None

    def drain(self):
        """Closes connections left from the previous spawn."""
        while True:
            try:
                conn, _ = self.listener.accept()
                conn.close()
            except (BlockingIOError, InterruptedError):
                return

    def once(self, name, path):
        """Milliseconds from spawn to the first /invocation/next of one process."""
        self.drain()
        stderr_path = os.path.join(self.logs, f"{name}.stderr")
        env = child_env(name, self.runtime_port, self.closed_port, self.home)
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        conns = []
        with open(stderr_path, "wb") as err:
            started = time.perf_counter()
            self.child = subprocess.Popen(
                [path], env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.home
            )
        buffers = {}
        try:
            deadline = started + self.timeout
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise BenchError(
                        f"{name} did not ask for an invocation within {self.timeout:.0f} s"
                        + self.stderr_tail(stderr_path)
                    )
                for key, _ in sel.select(timeout=min(remaining, 0.05)):
                    if key.fileobj is self.listener:
                        try:
                            conn, _ = self.listener.accept()
                        except (BlockingIOError, InterruptedError):
                            continue
                        conn.setblocking(False)
                        conns.append(conn)
                        buffers[conn] = b""
                        sel.register(conn, selectors.EVENT_READ, None)
                        continue
                    conn = key.fileobj
                    try:
                        data = conn.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    if not data:
                        sel.unregister(conn)
                        continue
                    buffers[conn] += data
                    if NEXT in buffers[conn]:
                        return (time.perf_counter() - started) * 1000.0
                    if b"\r\n\r\n" in buffers[conn]:
                        first = buffers[conn].split(b"\r\n", 1)[0].decode(errors="replace")
                        raise BenchError(f"{name} asked the Runtime API for {first!r} first")
                code = self.child.poll()
                if code is not None:
                    raise BenchError(
                        f"{name} exited (status {code}) before asking for an invocation"
                        + self.stderr_tail(stderr_path)
                    )
        finally:
            self.kill_child()
            sel.close()
            for conn in conns:
                conn.close()

    @staticmethod
    def stderr_tail(path):
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
        if not text:
            return "; it printed nothing"
        lines = text.splitlines()[-20:]
        return "; its output:\n    " + "\n    ".join(lines)


def p90(values):
    ordered = sorted(values)
    # nearest rank
    return ordered[max(0, -(-len(ordered) * 90 // 100) - 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one spawn may take")
    parser.add_argument("binaries", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    binaries = []
    for item in args.binaries:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"expected NAME=PATH, got {item!r}")
        if not os.access(path, os.X_OK):
            parser.error(f"{path} is not an executable file (build it first)")
        binaries.append((name, os.path.abspath(path)))

    bench = Bench(binaries, args.timeout)

    def stop(signum, _frame):
        bench.close()
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    times = {name: [] for name, _ in binaries}
    rng = random.Random(20261201)
    try:
        for round_no in range(args.warmup + args.rounds):
            order = binaries[:]
            rng.shuffle(order)
            for name, path in order:
                ms = bench.once(name, path)
                if round_no >= args.warmup:
                    times[name].append(ms)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        bench.close()

    base_name = binaries[0][0]
    base = statistics.median(times[base_name])
    try:
        load = " (load average %.1f %.1f %.1f)" % os.getloadavg()
    except OSError:
        load = ""
    print(
        f"init: spawn -> first /invocation/next, {args.rounds} rounds "
        f"(+{args.warmup} warm-up), {len(binaries)} binaries interleaved{load}"
    )
    print()
    print("| binary | median ms | p90 ms | × baseline | size MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, path in binaries:
        median = statistics.median(times[name])
        ratio = "1.00 (baseline)" if name == base_name else f"{median / base:.2f}"
        size = os.path.getsize(path) / 1e6
        print(f"| {name} | {median:.1f} | {p90(times[name]):.1f} | {ratio} | {size:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
