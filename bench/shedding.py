"""The service's shedding rule (services/guard.Gate) on a simulated queue, to choose
serve.queue_target_services without the machine's noise.

`bench/serve.py` loads the real service at 80% and at 2x of its measured capacity, but one
run is only as good as the machine is steady: its speed here drifts by up to 2x within
minutes, and a slower minute turns "80%" into 90% or more. This model runs the rule itself
(the same `Gate` the service's front door keeps, `admit` and `next`) on a clock of its own:

- requests arrive as a Poisson process at a fraction of capacity and are spread at random
  over `serve.workers` workers (each connection belongs to one worker: the workers share a
  listening socket, not a queue);
- a request that finds `serve.max_concurrency` requests in its worker gets 503 at the door;
- each worker serves one request at a time; when one ends, its Gate sheds what is due and
  names the next (first come, first served, or newest first once the queue stands). A
  shed request costs `--shed-ms` of the worker (the body is read before it is shed), a
  served one a service time drawn from a lognormal with the mean that capacity implies
  (workers / capacity) and the coefficient of variation `--cv`, and the Deadline is told it
  (its target is so many of the worker's mean service times);
- per queue target: the sheds in `--seconds` at 80% and at 90% of capacity (mean and max over
  `--seeds` runs), the p99 of the answered requests at 80% and at 2x, and their ratio.
  In service times the model's figures do not depend on `--capacity`: a faster machine
  gives the same sheds and the same ratio, at shorter waits.

The issue's targets, for `bench/serve.py`: 0 errors at 80%, and the p99 of accepted requests
at 2x within 3x of the p99 at 80%. Sheds at 80% are the queue's own bursts (an open loop
at 80% still queues now and then), not a fault; the target trades them against the 2x
p99. The figures are a model's: the real service's service times have a longer tail.

Usage: python bench/shedding.py [--capacity 210] [--workers 2] [--cv 0.35] [--shed-ms 3.3]
           [--targets 10,15,20,25,30] [--seconds 60] [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsrec.config import load_params  # noqa: E402
from services.guard import Deadline, Gate  # noqa: E402


class _Turn:
    """A waiting request's turn in the model: what the Gate sets is collected."""

    def __init__(self, i: int, given: list) -> None:
        self.i, self.given = i, given

    def set_result(self, why: str | None) -> None:
        self.given.append((self.i, why))

    def done(self) -> bool:
        return False  # the model's clients never go away


def simulate(
    load: float,
    target_services: float,
    max_wait_ms: float,
    *,
    capacity: float,
    workers: int,
    cv: float,
    shed_ms: float,
    seconds: float,
    seed: int,
    max_concurrency: int = 32,
    interval_ms: float = 100.0,
) -> dict:
    """One run of `seconds` at `load` x capacity: requests, 503s (`shed`: from the queue and
    at the door; `refused`: at the door, over `max_concurrency`), p99 of the answered (ms)."""
    rng = np.random.default_rng(seed)
    mean_s = workers / capacity
    n = int(rng.poisson(load * capacity * seconds))
    arrive = np.sort(rng.uniform(0, seconds, n))
    worker = rng.integers(0, workers, n)
    sigma = np.sqrt(np.log(1 + cv**2))
    service = rng.lognormal(np.log(mean_s) - sigma**2 / 2, sigma, n)
    shed, refused, latency = 0, 0, []
    for w in range(workers):
        gate = Gate(Deadline.in_services(target_services, max_wait_ms, 1000 * mean_s, interval_ms), slots=1)
        gate.under = 0.0  # the model's clock starts at 0
        given: list = []
        done = np.inf  # when the request in the worker ends
        mine = list(np.flatnonzero(worker == w))
        k = 0
        while k < len(mine) or done < np.inf:
            if k < len(mine) and arrive[mine[k]] < done:  # the next event: an arrival
                i, now = mine[k], arrive[mine[k]]
                k += 1
                if gate.busy + len(gate.waiting) >= max_concurrency:  # 503 at the door
                    refused += 1
                elif gate.admit(now):
                    done = now + service[i]
                    latency.append(done - now)
                    gate.deadline.served(service[i])
                else:
                    gate.waiting.append((now, _Turn(i, given)))
                continue
            now, done = done, np.inf  # ... or the worker's request ends
            gate.busy -= 1
            gate.next(now)
            cost = 0.0
            for i, why in given:
                if why is None:  # its turn: served after the sheds before it
                    done = now + cost + service[i]
                    latency.append(done - arrive[i])
                    gate.deadline.served(service[i])
                else:  # a 503 costs the worker too (the body was read)
                    shed += 1
                    cost += shed_ms / 1000
            given.clear()
            if done == np.inf and cost:  # only sheds: the worker is busy with them, then looks again
                gate.busy += 1
                done = now + cost
    return {
        "requests": n,
        "shed": shed + refused,
        "refused": refused,
        "p99_ms": float(np.percentile(latency, 99) * 1000) if latency else float("nan"),
    }


def sweep(a: argparse.Namespace, max_wait_ms: float, max_concurrency: int) -> list[dict]:
    common = {"capacity": a.capacity, "workers": a.workers, "cv": a.cv, "shed_ms": a.shed_ms}
    common["max_concurrency"] = max_concurrency
    rows = []
    for t in a.targets:
        runs = {
            load: [
                simulate(load, t, max_wait_ms, seconds=a.seconds if load < 1 else a.seconds / 2, seed=s, **common)
                for s in range(a.seeds)
            ]
            for load in (0.8, 0.9, 2.0)
        }
        p99_80 = float(np.mean([r["p99_ms"] for r in runs[0.8]]))
        p99_2x = float(np.mean([r["p99_ms"] for r in runs[2.0]]))
        rows.append(
            {
                "target_services": t,
                "target_ms": t * 1000 * a.workers / a.capacity,
                "requests_80": int(np.mean([r["requests"] for r in runs[0.8]])),
                "shed_80": [r["shed"] for r in runs[0.8]],
                "shed_90": [r["shed"] for r in runs[0.9]],
                "p99_80_ms": p99_80,
                "p99_2x_ms": p99_2x,
                "ratio": p99_2x / p99_80,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capacity", type=float, default=210.0, help="req/s the workers sustain (bench/serve.py)")
    ap.add_argument("--workers", type=int, default=None, help="default: params serve.workers")
    ap.add_argument("--cv", type=float, default=0.35, help="service time's coefficient of variation")
    ap.add_argument("--shed-ms", type=float, default=3.3, help="worker time a shed request costs")
    ap.add_argument("--targets", default="10,15,20,25,30", help="queue targets to compare (mean service times)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the 80%% and 90%% runs (2x: half)")
    ap.add_argument("--seeds", type=int, default=10)
    a = ap.parse_args()
    from common import save_result  # bench/, the script's folder

    serve = load_params(Path(__file__).resolve().parents[1] / "params.yaml").serve
    a.workers = a.workers or serve.workers
    a.targets = [float(x) for x in a.targets.split(",")]
    print(
        f"model: {a.workers} workers, capacity {a.capacity:.0f} req/s (service time mean "
        f"{1000 * a.workers / a.capacity:.1f} ms, cv {a.cv}), a shed costs {a.shed_ms} ms, "
        f"serve.max_wait_ms {serve.max_wait_ms:.0f}, serve.max_concurrency {serve.max_concurrency}; {a.seeds} runs per load, {a.seconds:.0f} s (2x: half)"
    )
    print(
        f"{'queue target (ms)':>22} {'sheds at 80%: mean':>19} {'max':>5} {'at 90%: mean':>13} {'max':>5} "
        f"{'p99 80%':>9} {'p99 2x':>8} {'2x/80%':>7}"
    )
    rows = sweep(a, serve.max_wait_ms, serve.max_concurrency)
    for r in rows:
        mark = "  <- params" if r["target_services"] == serve.queue_target_services else ""
        print(
            f"{r['target_services']:>5.0f} services ({r['target_ms']:>4.0f} ms) {np.mean(r['shed_80']):>19.1f} {max(r['shed_80']):>5} "
            f"{np.mean(r['shed_90']):>13.1f} {max(r['shed_90']):>5} {r['p99_80_ms']:>6.0f} ms "
            f"{r['p99_2x_ms']:>5.0f} ms {r['ratio']:>6.2f}x{mark}"
        )
    print(f"(about {rows[0]['requests_80']:,} requests per 80% run)")
    print(f"saved {save_result('shedding', {'model': vars(a), 'rows': rows})}")


if __name__ == "__main__":
    main()
