"""A worker whose rank 1 fails after a few lines (tests of dist_launch's failure report);
rank 0 waits on a collective that rank 1 never joins, as a real training rank would."""

from __future__ import annotations

import os
import sys

from tuneforge.runtime import worker_events as ev


def main(spec: dict) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    if rank == 0:
        ev.log("rank 0 waiting for the others")
    else:
        print(f"rank {rank} loading shard {spec.get('shard', 'x')}", flush=True)
        print("something is wrong with this shard", file=sys.stderr, flush=True)
        if spec.get("how") == "kill":
            os.kill(os.getpid(), 9)
        raise ValueError(f"shard {spec.get('shard', 'x')} is corrupt")
    dist.all_reduce(torch.ones(1))
    ev.result({"ok": True})


if __name__ == "__main__":
    ev.run_main(main)
