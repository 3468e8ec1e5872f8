"""What reaches a worker's environment, on this host or in a Kubernetes Job.

A worker is a plain script. It needs the machine's environment (``PATH``, ``HOME``, the
Python and CUDA variables, ``HF_*``/``TRANSFORMERS_*`` for the model libraries) and a few of
tuneforge's own variables (:data:`WORKER_SETTINGS`, found by reading what the workers read) —
not the service's settings. ``TUNEFORGE_*`` configuration holds what no worker uses and
none may see: the vLLM URL (credentials in its userinfo), the vLLM restart command, the bearer
token, the database URL. :func:`worker_env` is the one place a worker's environment is
built, for every executor: the service's environment without those, plus what the job's
kind adds.

Where the environment leaves this host — a Kubernetes Job's manifest is stored in etcd and
readable by whoever may read Jobs — :func:`credential_like` says what never goes by value:
a variable whose name says it holds a credential, or whose value carries URL userinfo
(``https://user:pass@host``). The Kubernetes executor passes those by ``secretKeyRef`` when
the operator mapped them (``kubernetes_secret_env``), else not at all. A local worker runs
as the service's own user, who can read the service's environment anyway; it keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SETTINGS_PREFIX = "TUNEFORGE_"
# The TUNEFORGE_* variables a worker reads: the job's id (worker_events), the data root,
# the export tools' cache (trainer/export.py) and the Whisper models (audio/whisper.py).
WORKER_SETTINGS = frozenset({"TUNEFORGE_JOB_ID", "TUNEFORGE_HOME", "TUNEFORGE_CACHE", "TUNEFORGE_WHISPER_MODELS"})

_CREDENTIAL_NAME = re.compile(
    r"(^|_)(PASS|PASSWD|PASSPHRASE|TOKEN|AUTH|CREDENTIALS?|KEY)(_|$)|PASSWORD|SECRET|ACCESS_KEY|API_KEY|PRIVATE"
)
_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s]*@")


def is_worker_setting(name: str) -> bool:
    """False for the service's own settings (``TUNEFORGE_*`` outside :data:`WORKER_SETTINGS`)."""
    return not name.startswith(SETTINGS_PREFIX) or name in WORKER_SETTINGS


def worker_env(environ: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a worker starts with: ``environ`` less the service's settings, then ``extra``."""
    env = {name: value for name, value in environ.items() if is_worker_setting(name)}
    env.update(extra)
    return env


def credential_like(name: str, value: str) -> bool:
    """A variable that must not be written down by value: its name says it is a credential
    (``*_PASS``, ``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ``*ACCESS_KEY*``, ``*_KEY``, ...), or
    its value holds a URL with userinfo."""
    return bool(_CREDENTIAL_NAME.search(name.upper()) or _URL_USERINFO.search(value))
