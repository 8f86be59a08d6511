"""Every error ocimux raises, as one tree; the CLI exit code stands beside each branch.

    OcimuxError                        125  ocimux itself failed
    ├── ConfigError                    125  a config file or variable is wrong (file, line, key)
    ├── InvalidArgumentError           125  a bad id, name, signal, option or bundle
    ├── NotFoundError                  125  no such container / exec session / runtime
    │   ├── ContainerNotFoundError
    │   ├── ExecSessionNotFoundError
    │   └── RuntimeNotFoundError            (no plugin of that name, or no binary for it)
    ├── ConflictError                  125  a name or id is already taken; an ambiguous prefix
    ├── PluginError                    125  a plugin failed to import, or two claim one name
    │   └── PluginFaultError                plugin code raised something not an OcimuxError (its bug)
    ├── CapabilityError                125  the runtime cannot do this (names capability + reason)
    ├── StateError                     125  the container's state forbids this (never reaches a runtime)
    ├── RuntimeCommandError            125  the runtime (or its monitor) failed
    │   └── RuntimeTimeoutError             a runtime command hung past its timeout
    ├── StoreError                     125  the state database or a lock failed
    ├── CommandNotInvocableError       126  the container's command exists but cannot run
    └── CommandNotFoundError           127  the container's command does not exist

Every error renders as one line (`str(err)`) naming what it knows of container, runtime and
command, what went wrong, and what to do. Plugins raise these with the facts they have; the
Dispatcher fills in `container` and `runtime` with `err.add_context(...)` on the way up.
"""

from __future__ import annotations

#: typing.TYPE_CHECKING without importing typing
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CapabilityError",
    "CommandNotFoundError",
    "CommandNotInvocableError",
    "ConfigError",
    "ConflictError",
    "ContainerNotFoundError",
    "ExecSessionNotFoundError",
    "InvalidArgumentError",
    "NotFoundError",
    "OcimuxError",
    "PluginError",
    "PluginFaultError",
    "RuntimeCommandError",
    "RuntimeNotFoundError",
    "RuntimeTimeoutError",
    "StateError",
    "StoreError",
]


class OcimuxError(Exception):
    """Root of every error ocimux raises on purpose.

    `detail` says what went wrong, `hint` what to do about it. `container`, `runtime`
    and `verb` (the operation, e.g. "kill") locate it; each may be None when unknown.
    """

    #: exit status of the `ocimux` CLI for this branch (podman's codes)
    exit_code: int = 125

    def __init__(
        self,
        detail: str,
        *,
        container: str | None = None,
        runtime: str | None = None,
        verb: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.container = container
        self.runtime = runtime
        self.verb = verb
        self.hint = hint

    def add_context(
        self,
        *,
        container: str | None = None,
        runtime: str | None = None,
        verb: str | None = None,
        container_id: str | None = None,
    ) -> OcimuxError:
        """Fill in whichever of container, runtime and verb are still unknown; return self.

        A plugin knows containers by id; if it named the container `container_id`, the
        friendlier `container` (its name) replaces that.
        """
        if self.container is None or (container_id and self.container == container_id):
            self.container = container
        self.runtime = self.runtime or runtime
        self.verb = self.verb or verb
        return self

    def _prefix(self) -> str:
        parts = []
        if self.verb:
            parts.append(self.verb)
        if self.container:
            parts.append(_short(self.container))
        head = " ".join(parts)
        if self.runtime:
            runtime = _short(self.runtime)
            head = f"{head} on {runtime}" if head else f"runtime {runtime}"
        return head

    def __str__(self) -> str:
        head = self._prefix()
        line = f"{head}: {self.detail}" if head else self.detail
        if self.hint:
            line = f"{line}; {self.hint}"
        # One line, always: runtime messages often end in a newline or span several; and no
        # terminal control (a user's argument may hold an escape sequence that clears the screen).
        return _bounded(" ".join(line.split()).translate(_CONTROLS))


class ConfigError(OcimuxError):
    """A configuration file, drop-in or environment variable is invalid.

    `path`, `line` and `key` locate it (each may be None); the message starts with them.
    """

    def __init__(
        self,
        detail: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        #: what is wrong, without the location (`detail` starts with it)
        self.problem = detail
        where = path or ""
        if path and line:
            where = f"{path}:{line}"
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {detail}" if where else detail, hint=hint)


class InvalidArgumentError(OcimuxError):
    """An argument is malformed: an id, a name, a signal, a timeout, a bundle."""


class NotFoundError(OcimuxError):
    """Something named does not exist."""


class ContainerNotFoundError(NotFoundError):
    """No container has that id, name or id prefix."""


class ExecSessionNotFoundError(NotFoundError):
    """No exec session has that id."""


class RuntimeNotFoundError(NotFoundError):
    """No runtime plugin of that name is installed, or its binary cannot be found."""


class ConflictError(OcimuxError):
    """A name or id is taken, or an id prefix matches more than one container."""


class PluginError(OcimuxError):
    """A plugin failed to import or validate, or two distributions claim one name.

    `entry_point` is `module:attr`, `distribution` is `name version`, when known.
    """

    def __init__(
        self,
        detail: str,
        *,
        runtime: str | None = None,
        entry_point: str | None = None,
        distribution: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.entry_point = entry_point
        self.distribution = distribution
        super().__init__(detail, runtime=runtime, hint=hint)


class PluginFaultError(PluginError):
    """Plugin code raised an exception that is not an `OcimuxError`: a bug in the plugin.

    Raised by the guard every runtime is wrapped in (`ocimux.engine.guard`) and by the Registry
    when a plugin's class cannot be built. `location` is `file:line` of the innermost frame
    inside the plugin (else of the frame that raised), `call` the plugin method that raised
    (e.g. "state"), when known. The original exception is `__cause__`: `ocimux --debug`
    prints its traceback.
    """

    def __init__(
        self,
        detail: str,
        *,
        runtime: str | None = None,
        entry_point: str | None = None,
        distribution: str | None = None,
        location: str | None = None,
        call: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.location = location
        self.call = call
        super().__init__(
            detail,
            runtime=runtime,
            entry_point=entry_point,
            distribution=distribution,
            hint=hint,
        )


class CapabilityError(OcimuxError):
    """The runtime lacks a capability the operation needs; raised before anything runs."""

    def __init__(
        self,
        capability: str,
        reason: str,
        *,
        source: str | None = None,
        container: str | None = None,
        runtime: str | None = None,
        verb: str | None = None,
        option: str | None = None,
    ) -> None:
        self.capability = capability
        self.reason = reason
        self.source = source
        #: the option that needs the capability (e.g. "--device"), if one does
        self.option = option
        src = f" ({source})" if source else ""
        what = (
            f"{option} needs capability {capability}, which the runtime lacks"
            if option
            else f"runtime lacks capability {capability}"
        )
        super().__init__(
            f"{what}{src}: {reason}",
            container=container,
            runtime=runtime,
            verb=verb,
            hint="choose a runtime that can (see `ocimux runtimes`)",
        )


class StateError(OcimuxError):
    """The container is in a state that forbids the operation (e.g. pausing a stopped one)."""


class RuntimeCommandError(OcimuxError):
    """A runtime command or the monitor failed.

    `argv` is the command (None for in-process runtimes), `exit_status` its status.
    `detail` is the runtime's own message (the last JSON log record, or stderr).
    """

    def __init__(
        self,
        detail: str,
        *,
        argv: Sequence[str] | None = None,
        exit_status: int | None = None,
        container: str | None = None,
        runtime: str | None = None,
        verb: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.argv = list(argv) if argv is not None else None
        self.exit_status = exit_status
        super().__init__(detail, container=container, runtime=runtime, verb=verb, hint=hint)

    def _prefix(self) -> str:
        head = super()._prefix()
        if self.verb and self.exit_status is not None:
            head = f"{head} failed (exit {self.exit_status})"
        elif self.verb:
            head = f"{head} failed"
        return head

    @property
    def command(self) -> str | None:
        """The command as a shell would show it (for messages only, never to run)."""
        return _join(self.argv) if self.argv else None


class RuntimeTimeoutError(RuntimeCommandError):
    """A runtime command did not finish within its timeout and was killed."""

    def __init__(self, argv: Sequence[str], timeout: float, **context: str | None) -> None:
        self.timeout = timeout
        super().__init__(
            f"`{_join(argv)}` hung for {timeout:g}s and was killed",
            argv=argv,
            hint=context.pop("hint", None) or "raise [ocimux] command_timeout or check the runtime",
            **context,
        )


class StoreError(OcimuxError):
    """The state database or a container lock could not be used."""


class CommandNotInvocableError(OcimuxError):
    """The container's command exists but cannot be invoked (permission denied)."""

    exit_code = 126


class CommandNotFoundError(OcimuxError):
    """The container's command was not found."""

    exit_code = 127


#: a message longer than this is cut in the middle (a 5 MB config value must not become a 5 MB line)
MAX_MESSAGE = 2000


#: control characters left after whitespace is collapsed (ESC, BEL, DEL, C1), shown escaped
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace()}


def _bounded(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2
    return f"{text[:half]}…({len(text) - 2 * half} characters cut)…{text[-half:]}"


def _short(name: str, limit: int = 80) -> str:
    """A name as it fits in a message prefix (a hostile one can be megabytes long)."""
    return name if len(name) <= limit else f"{name[: limit - 1]}…"


def _join(argv: Sequence[str]) -> str:
    import shlex  # lazy: it imports re (~8 ms) for a message only a failure shows

    return shlex.join(argv)
