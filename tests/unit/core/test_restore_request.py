"""What an in-place `restore` asks of the runtime: the exit command of a `--rm` container.

Issue 13, item 2: a restored `--rm` (auto_remove) container's new monitor must remove it when
it exits, as `create` arranges for the first one. CRIU is broken on the development host, so
this is checked on the request restore builds, without a process.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ocimux.engine import _cleanup
from ocimux.engine.dispatcher import Dispatcher
from ocimux.engine.store import ContainerRecord
from ocimux.interface.runtime import Layout
from ocimux.oci.containerconfig import ContainerConfig


def _dispatcher() -> Dispatcher:
    config = SimpleNamespace(
        containers_table={"log_size_max": 50_000}, files=(), ignored_container_defaults=()
    )
    d = Dispatcher(config, None, None, None)  # type: ignore[arg-type]
    d.origin = ("/etc/x.conf", {"OCIMUX_STATE_DIR": "/s", "PATH": "/bin", "SECRET_TOKEN": "t"})
    return d


def _runtime(tmp_path: Path) -> SimpleNamespace:
    """What `_restore_request` uses of a runtime: its layout."""
    return SimpleNamespace(layout=Layout(tmp_path.parent, run_dir=tmp_path.parent / "run"))


def _rec(
    bundle: Path, *, auto_remove: bool, config: ContainerConfig | None = None
) -> ContainerRecord:
    return ContainerRecord(
        id="c" * 64, name="n", runtime="crun", bundle=str(bundle), status="stopped",
        config={
            "auto_remove": auto_remove, "stdin": True, "annotations": {"a": "b"},
            "container": (config or ContainerConfig()).to_dict(),
        },
    )  # fmt: skip


def test_restore_of_an_auto_remove_container_gives_its_monitor_the_exit_command(
    tmp_path: Path,
) -> None:
    rec = _rec(tmp_path, auto_remove=True)
    request = _dispatcher()._restore_request(rec, _runtime(tmp_path))  # type: ignore[arg-type]
    assert request.io.exit_command == _cleanup.exit_command(tmp_path)
    assert _cleanup.read_origin(tmp_path) == {  # what the exit command runs with
        "id": "c" * 64, "config_file": "/etc/x.conf", "environ": {"OCIMUX_STATE_DIR": "/s", "PATH": "/bin"},
    }  # fmt: skip
    assert (request.cid, request.name, request.bundle) == ("c" * 64, "n", tmp_path)
    assert request.stdin and request.annotations == {"a": "b"}


def test_restore_without_auto_remove_has_no_exit_command(tmp_path: Path) -> None:
    rec = _rec(tmp_path, auto_remove=False)
    request = _dispatcher()._restore_request(rec, _runtime(tmp_path))  # type: ignore[arg-type]
    assert request.io.exit_command == ()
    assert not (tmp_path / _cleanup.ORIGIN).exists()


def test_restore_keeps_the_log_cap(tmp_path: Path) -> None:
    d, runtime = _dispatcher(), _runtime(tmp_path)
    request = d._restore_request(_rec(tmp_path, auto_remove=False), runtime)  # type: ignore[arg-type]
    assert request.io.log_size_max == 50_000
    own = ContainerConfig(log_size_max=100_000)
    rec = _rec(tmp_path, auto_remove=False, config=own)
    assert d._restore_request(rec, runtime).io.log_size_max == 100_000  # type: ignore[arg-type]
