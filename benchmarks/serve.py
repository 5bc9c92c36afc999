"""`rnnkit serve` under load on loopback: a bounded number of requests at several concurrencies
against one uvicorn process, with throughput, p50/p99 latency, errors and the server's memory before
and after. Trains two tiny runs first (a character LM and a text classifier, under a minute).

    python benchmarks/serve.py [--requests 2000] [--concurrency 1 8 32] [--backend torch|onnx] [--rounds 4]

Prints a table; asserts nothing. Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from rnnkit.cli import main as rnnkit  # noqa: E402
from rnnkit.serve import load_service  # noqa: E402
from rnnkit.serve.app import Limits, build_app  # noqa: E402


def rss_mib() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def timed_post(http, path: str, body: dict, _) -> tuple[float, int]:
    start = time.perf_counter()
    status = http.post(path, json=body).status_code
    return time.perf_counter() - start, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--max-batch", type=int, default=1, help="micro-batch concurrent classify requests (1: off)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole load this many times; the table shows the first, "
                        "and the server's memory is printed after each, so growth after warm-up shows")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    quiet = ["--no-progress", "--device", "cpu"]
    rnnkit(["lm", "train", "--preset", "tiny", "--max-steps", "50", "--out", str(work / "lm"), *quiet])
    train = work / "train.tsv"
    train.write_text("text\tlabel\n" + "a wonderful film\tpos\ngreat story\tpos\na dull film\tneg\nboring story\tneg\n" * 20)
    rnnkit(["classify", "train", "--data", str(train), "--out", str(work / "reviews"), "--epochs", "3", *quiet])
    if args.backend == "onnx":
        for name in ("lm", "reviews"):
            rnnkit(["export", str(work / name)])
    services = [load_service(work / name, args.backend) for name in ("lm", "reviews")]
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted connections inherit it: no 40 ms Nagle stalls
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(services, Limits(max_in_flight=64, max_batch=args.max_batch)), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    cases = {"classify, 2 texts": ("/v1/classify", {"inputs": ["a wonderful story with great acting", "dull"]}),
             "lm, 16 tokens": ("/v1/lm", {"prompt": "The ", "max_tokens": 16, "temperature": 0})}
    rows, memory = [], [rss_mib()]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        for round_ in range(args.rounds):
            for name, (path, body) in cases.items():
                for concurrency in args.concurrency:
                    total = args.requests if name.startswith("classify") else args.requests // 4
                    start = time.perf_counter()
                    with ThreadPoolExecutor(concurrency) as pool:
                        results = list(pool.map(partial(timed_post, http, path, body), range(total)))
                    wall = time.perf_counter() - start
                    latencies = sorted(1000 * t for t, _ in results)
                    errors = sum(1 for _, status in results if status != 200)
                    if round_ == 0:
                        rows.append((name, concurrency, total, total / wall, statistics.median(latencies),
                                     latencies[int(0.99 * (len(latencies) - 1))], errors))
            memory.append(rss_mib())
    server.should_exit = True
    thread.join(10)
    after = ", ".join(f"{m:.0f}" for m in memory[1:])
    print(f"\nbackend {args.backend}, max batch {args.max_batch}; server process memory {memory[0]:.0f} MiB before the load, "
          f"{after} MiB after each of {args.rounds} round(s)")
    print("| request | concurrency | requests | requests/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
    for name, concurrency, total, rate, p50, p99, errors in rows:
        print(f"| {name} | {concurrency} | {total} | {rate:.0f} | {p50:.1f} | {p99:.1f} | {errors} |")


if __name__ == "__main__":
    main()
