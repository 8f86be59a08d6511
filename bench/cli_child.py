"""Run the ocimux CLI like its console script does, stamping CLOCK_MONOTONIC at each stage.

Used by `profiling.cli_phases`: `python bench/cli_child.py STAMPS_FILE run --rm ...`. The
stamps (seconds, system-wide monotonic clock, so the parent can compare them with its own)
are written as JSON to STAMPS_FILE: interpreter ready, `ocimux.cli` imported, the session
module imported, `open_dispatcher` entered and left, `Dispatcher.run` entered and left,
`main` returned. Nothing of the package is changed; two functions are wrapped in this process.
"""

import time

T_READY = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402


def main() -> int:
    stamps = {"ready": T_READY}
    out_file, argv = sys.argv[1], sys.argv[2:]
    import ocimux.cli

    stamps["cli_imported"] = time.monotonic()
    from ocimux.engine import dispatcher, session

    stamps["session_imported"] = time.monotonic()
    open_dispatcher, run = session.open_dispatcher, dispatcher.Dispatcher.run

    def timed_open(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        stamps["open_start"] = time.monotonic()
        try:
            return open_dispatcher(*args, **kwargs)
        finally:
            stamps["open_end"] = time.monotonic()

    def timed_run(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        stamps["run_start"] = time.monotonic()
        try:
            return run(self, *args, **kwargs)
        finally:
            stamps["run_end"] = time.monotonic()

    session.open_dispatcher = timed_open
    dispatcher.Dispatcher.run = timed_run
    sys.argv = ["ocimux", *argv]
    code = ocimux.cli.main(argv)
    stamps["main_end"] = time.monotonic()
    with open(out_file, "w", encoding="utf-8") as fh:
        json.dump(stamps, fh)
    return code


if __name__ == "__main__":
    sys.exit(main())
