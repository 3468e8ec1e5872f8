"""A worker that reports training throughput, then idles until asked to stop (SIGTERM)."""

import time

from tuneforge.runtime import worker_events as ev


def main(spec: dict) -> None:
    ev.metrics(step=1, loss=2.5, tokens_per_second=4321.5)
    ev.progress(phase="training", step=1, total=100)
    while not ev.stop_requested():
        time.sleep(0.05)
    ev.result({"stopped": True})


if __name__ == "__main__":
    ev.run_main(main)
