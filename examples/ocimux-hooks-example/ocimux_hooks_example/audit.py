"""One JSON line per lifecycle event, appended to `$EXAMPLE_AUDIT_LOG`.

(Not an `OCIMUX_*` variable: those are ocimux's own settings, and an unknown one is an error.)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import ocimux


@ocimux.hookimpl
def ocimux_lifecycle_event(
    event: str, container: str, name: str, runtime: str, detail: dict[str, Any]
) -> None:
    record = {
        "time": time.time(),
        "event": event,
        "id": container,
        "name": name,
        "runtime": runtime,
        **detail,
    }
    path = os.environ.get("EXAMPLE_AUDIT_LOG", "/var/log/ocimux-audit.jsonl")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
