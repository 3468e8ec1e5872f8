"""A real worker for the job-engine tests: counts steps, reports events, stops on SIGTERM.

Spec: steps, sleep (seconds per step), exit_code (at the end), fail_at (step that raises),
print_noise (plain stdout/stderr lines), print_env (a variable name: prints NAME=value),
stop_delay (seconds the worker takes to save when stopped).
"""

import os
import sys
import time

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import failed_precondition


def main(spec):
    steps, pause = int(spec.get("steps", 5)), float(spec.get("sleep", 0.05))
    ev.progress(phase="starting", step=0, total=steps)
    if spec.get("print_env"):
        print(f"{spec['print_env']}={os.environ.get(spec['print_env'], '')}", flush=True)
    if spec.get("print_noise"):
        print("plain stdout line", flush=True)
        print("plain stderr line", file=sys.stderr, flush=True)
    for step in range(1, steps + 1):
        if ev.stop_requested():
            if spec.get("stop_delay"):
                ev.log("saving before stopping")
                time.sleep(float(spec["stop_delay"]))
            ev.checkpoint(step - 1, f"{spec['job_dir']}/checkpoint-{step - 1}")
            ev.log(f"stopped at step {step - 1}")
            return
        if spec.get("fail_at") == step:
            raise failed_precondition("TEST_FAILURE", f"failing on purpose at step {step}")
        time.sleep(pause)
        ev.log(f"step {step}")
        ev.progress(phase="working", step=step, total=steps, eta_seconds=(steps - step) * pause)
        ev.metrics(step=step, loss=1.0 / step, learning_rate=0.1)
        if step % 2 == 0:
            ev.checkpoint(step, f"{spec['job_dir']}/checkpoint-{step}")
    ev.result({"steps": steps})
    if spec.get("exit_code"):
        sys.exit(int(spec["exit_code"]))


if __name__ == "__main__":
    ev.run_main(main)
