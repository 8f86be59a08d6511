"""Every fenced block of docs/plugins.md (and of README.md's "Writing a runtime plugin") is true.

Each block is checked the way that proves it, starting no process (the few checks that need
one are in tests/integration/test_docs_plugins_samples_live.py, which imports this module):

- ```python: run in a fresh module, in a fresh temp directory. Every `Runtime` subclass it
  defines declares `api_version = API_VERSION` and its own `capabilities`, defines no public
  name its bases lack (a verb still named `create_container` fails), leaves abstract exactly
  the verbs its comment says it leaves out (none unless it says so) and is built from a
  `RuntimeContext`. Hook implementations are registered with pluggy against
  `ocimux.interface.hookspec` and each hook is called once; probes run against a fake runtime.
- ```toml: a containers.conf sample is loaded by `ocimux.config.load_config` (the path of
  `ocimux --config FILE`: an unknown key fails with its did-you-mean), its runtime names
  resolve to installed plugins and each `[ocimux.plugins.NAME]` key is one NAME's plugin
  reads; a pyproject sample uses PEP 621 keys and ocimux's entry-point groups, and each
  entry point names an object a sample of the same document defines.
- ```sh: every `ocimux` command is parsed by ocimux's own argparse parser, every `pytest`
  command by pytest's (with its `-p` plugins loaded), every `pip install` argument names an
  extra ocimux has or the project a pyproject sample describes. Nothing is run.
- ```text: output listings, not run. Any other info string fails, so a new sample cannot
  escape these checks by its marking.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib.util
import io
import json
import linecache
import os
import re
import shlex
import sys
import tokenize
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli
from ocimux.interface.capabilities import CAPABILITY_NAMES, Capabilities, Capability
from ocimux.interface.runtime import API_VERSION, Runtime, RuntimeContext

REPO = Path(__file__).resolve().parents[3]
PLUGINS_DOC = "docs/plugins.md"
README = "README.md"
#: README.md's section for plugin authors (its other blocks are for users)
README_PLUGIN_SECTION = "Writing a runtime plugin"

#: every info string a fenced block may carry; `text` marks a block not meant to run
KNOWN_INFO = ("python", "toml", "sh", "text")

#: an example placeholder several samples share: the audit hook's log file, set to a temp file
AUDIT_LOG_VARIABLE = "EXAMPLE_AUDIT_LOG"

#: PEP 621's `[project]` keys
PROJECT_KEYS = frozenset(
    "name version description readme requires-python license license-files authors "
    "maintainers keywords classifiers urls scripts gui-scripts entry-points dependencies "
    "optional-dependencies dynamic".split()
)

#: for each probe that runs the runtime's binary: what a fake binary prints, and the answers
#: the probe must then give (the live module runs them: the fake binary is a process)
BINARY_PROBES: dict[str, dict[str, tuple[str, dict[str, bool]]]] = {
    "ocimux_kestrel.probe_kvm": {
        "with-kvm": ("kestrel version 0.4.0\n+kvm -selinux\n", {"kvm": True}),
        "without-kvm": ("kestrel version 0.4.0\n-kvm +selinux\n", {"kvm": False}),
    },
}

#: one call of each hookspec, with neutral arguments (a new hookspec needs a line here)
HOOK_CALLS: dict[str, dict[str, Any]] = {
    "ocimux_choose_runtime": {
        "name": "web",
        "annotations": {},
        "requested": None,
        "default": "runc",
    },
    "ocimux_adjust_spec": {"spec": {"ociVersion": "1.0.2"}, "runtime": "runc", "name": "web"},
    "ocimux_lifecycle_event": {
        "event": "died",
        "container": "0123456789ab",
        "name": "web",
        "runtime": "runc",
        "detail": {"exit_code": 3},
    },
}


# --- the blocks ------------------------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
HEADING = re.compile(r"^(?P<level>#{1,6}) +(?P<title>.+?)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: which file, the line of its opening fence, its info string and text."""

    doc: str
    line: int
    info: str
    text: str
    #: the title of the level-2 section it sits in
    section: str

    @property
    def id(self) -> str:
        return f"{Path(self.doc).name}:{self.line}-{self.info or 'unmarked'}"


def read_blocks(doc: str, root: Path = REPO) -> list[Block]:
    """Every fenced block of `doc`, indented ones (inside list items) included."""
    lines = (root / doc).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            heading = HEADING.match(lines[i])
            if heading and len(heading["level"]) <= 2:
                section = heading["title"]
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise ValueError(f"{doc}:{i + 1}: a fenced block that never closes")
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        text = "\n".join(body) + "\n"
        blocks.append(Block(doc, i + 1, opening["info"].strip(), text, section))
        i = end + 1
    return blocks


def runnable_blocks(root: Path = REPO) -> list[Block]:
    """The blocks these tests check: all of docs/plugins.md, README.md's plugin section."""
    readme = [b for b in read_blocks(README, root) if b.section == README_PLUGIN_SECTION]
    return [b for b in [*read_blocks(PLUGINS_DOC, root), *readme] if b.info != "text"]


def of_kind(info: str) -> list[Block]:
    return [b for b in runnable_blocks() if b.info == info]


def ids(blocks: list[Block]) -> list[str]:
    return [b.id for b in blocks]


def python_in_process() -> list[Block]:
    """The python samples this module runs: all but those that start a process at once."""
    return [b for b in of_kind("python") if not starts_a_process_when_run(b)]


# --- python samples: loading -----------------------------------------------------------------


def module_name(block: Block) -> str:
    """A plugin sample names its module first in its docstring (`\"\"\"ocimux_kestrel: ...`)."""
    docstring = ast.get_docstring(ast.parse(block.text)) or ""
    named = re.match(r"(?P<name>[A-Za-z_]\w*):", docstring)
    if named:
        return named["name"]
    return f"docs_sample_{Path(block.doc).stem.lower()}_{block.line}"


def load_sample(
    block: Block, monkeypatch: pytest.MonkeyPatch, file: Path | None = None
) -> types.ModuleType:
    """Run the sample as the module it says it is (in sys.modules while the test runs).

    Compiled without this file's `from __future__` flags; its source goes to linecache so a
    traceback shows the sample's lines. `file` is its `__file__` (default: its place in the doc).
    """
    name = module_name(block)
    filename = f"<{block.doc}:{block.line}>"
    linecache.cache[filename] = (len(block.text), None, block.text.splitlines(True), filename)
    code = compile(block.text, filename, "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = str(file) if file else filename
    monkeypatch.setitem(sys.modules, name, module)
    exec(code, module.__dict__)  # noqa: S102 - the sample is ours, from the docs
    return module


@contextlib.contextmanager
def sample_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory, and the samples' placeholders pointed into it."""
    work = tmp_path / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    # example placeholder: the audit hook appends to this file (default: /var/log/...)
    monkeypatch.setenv(AUDIT_LOG_VARIABLE, str(tmp_path / "audit.jsonl"))
    yield work


def own_functions(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__
    }


def runtime_classes(module: types.ModuleType) -> list[type[Runtime]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Runtime)
        and value.__module__ == module.__name__
    ]


def function_node(block: Block, name: str) -> ast.FunctionDef:
    tree = ast.parse(block.text)
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def starts_a_process_when_run(block: Block) -> bool:
    """Whether the sample's top level (not a function it defines) runs a process."""
    runners = {("process", "run"), ("process", "spawn"), ("subprocess", "run")}
    for statement in ast.parse(block.text).body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id, node.func.attr) in runners
            ):
                return True
    return False


def probes_of(block: Block, module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    """The sample's probes: `@probe`-marked, listed in a class's `probes`, or named probe_*."""
    listed = {id(p) for cls in runtime_classes(module) for p in cls.probes}
    return {
        name: fn
        for name, fn in own_functions(module).items()
        if hasattr(fn, "cache_keys") or id(fn) in listed or name.startswith("probe_")
    }


def runs_the_binary(block: Block, probe_name: str) -> bool:
    """A probe that reads `runtime.path` runs the runtime's binary (a process: live test)."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "runtime"
        for node in ast.walk(function_node(block, probe_name))
    )


def sample_context(cls: type[Runtime], root: Path, **changes: Any) -> RuntimeContext:
    """What the Registry would hand the class; the binary's path is the docs' placeholder."""
    name = cls.binary or "sample"
    context = RuntimeContext(
        name=name,
        # example placeholder: the sample's binary is not installed here; nothing runs it
        path=f"/usr/bin/{cls.binary}" if cls.binary else None,
        state_dir=root / "run" / "runtimes" / name,
        containers_dir=root / "containers",
        run_dir=root / "run",
        binary=cls.binary,
    )
    return dataclasses.replace(context, **changes)


# --- python samples: the checks --------------------------------------------------------------

#: a comment that lists, comma-separated, the verbs a partial sample leaves out
LEFT_OUT = re.compile(r"^[ \t]*# (?P<verbs>\w+(?:, \w+)+)\b", re.MULTILINE)


def documented_left_out(block: Block) -> set[str]:
    """The verbs the sample's comment says it leaves out (`# start, kill, ... (`), else none."""
    for found in LEFT_OUT.finditer(block.text):
        verbs = set(found["verbs"].split(", "))
        if verbs <= set(dir(Runtime)):
            return verbs
    return set()


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def check_runtime_class(cls: type[Runtime], block: Block, root: Path) -> Runtime | None:
    """The checks the Registry makes, plus: no public name the bases lack (e.g. old verbs)."""
    where = f"{block.doc}:{block.line}: {cls.__qualname__}"
    assert "api_version" in vars(cls), f"{where}: write `api_version = {API_VERSION}` (§2)"
    assert cls.api_version == API_VERSION, f"{where}: api_version {cls.api_version!r}"
    assert isinstance(vars(cls).get("capabilities"), Capabilities), (
        f"{where}: declare `capabilities = Capabilities(...)` on the class"
    )
    allowed = set().union(*(public_names(base) for base in cls.__bases__))
    unknown = sorted(name for name in vars(cls) if not name.startswith("_") and name not in allowed)
    assert not unknown, (
        f"{where} defines {unknown}: neither a verb of runtime API {API_VERSION} nor a hook of "
        f"{', '.join(b.__name__ for b in cls.__bases__)}"
    )
    left_out = set(getattr(cls, "__abstractmethods__", ()))
    assert left_out == documented_left_out(block), (
        f"{where} leaves {sorted(left_out)} abstract; its text says {sorted(documented_left_out(block))}"
    )
    if left_out:
        return None
    runtime = cls(sample_context(cls, root))
    assert runtime.name == (cls.binary or "sample")
    assert runtime.unavailable_reason() is None
    return runtime


def check_capabilities(capabilities: Capabilities, where: str) -> None:
    """Every answer a sample gives has a reason (users read it in error messages)."""
    for field in dataclasses.fields(capabilities):
        answer = getattr(capabilities, field.name)
        assert isinstance(answer, Capability), f"{where}: {field.name}"
        assert answer.reason, f"{where}: {field.name} has no reason"


def hook_manager() -> Any:
    import ocimux.interface.hookspec
    import pluggy

    manager = pluggy.PluginManager(ocimux.interface.hookspec.PROJECT)
    manager.add_hookspecs(ocimux.interface.hookspec)
    return manager


def hook_impls(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    from ocimux.interface.hookspec import PROJECT

    return {n: f for n, f in own_functions(module).items() if hasattr(f, f"{PROJECT}_impl")}


def check_hooks(module: types.ModuleType) -> Any:
    """Register the sample with pluggy (which checks names against the specs); call each once."""
    manager = hook_manager()
    manager.register(module)
    for name in hook_impls(module):
        result = getattr(manager.hook, name)(**json.loads(json.dumps(HOOK_CALLS[name])))
        if name == "ocimux_choose_runtime":
            assert result is None or isinstance(result, str), result
        else:
            # pluggy drops None results: an implementation returning something is a mistake
            assert result == [], f"{name} returned {result!r}; its result is ignored"
    return manager


def fake_runtime(root: Path, path: str | None = None, name: str = "myrt") -> Any:
    """What a probe may read of a runtime: `name`, `path`, `context`."""
    context = RuntimeContext(
        name=name, path=path, state_dir=root / "state", containers_dir=root / "containers"
    )
    return types.SimpleNamespace(name=name, path=path, context=context)


def check_probe_answers(answers: Any, where: str) -> None:
    answers = list(answers)
    assert answers, f"{where} measured nothing"
    for name, capability in answers:
        assert name in CAPABILITY_NAMES, f"{where}: {name!r} is not a capability"
        assert isinstance(capability, Capability), f"{where}: {capability!r}"
        assert capability.source == "probed" and capability.reason, f"{where}: {capability}"


def check_probe(probe: Callable[..., Any], runtime: Any, where: str) -> None:
    inputs = getattr(probe, "cache_keys", None)
    if inputs is not None:  # what the cache key is made of must be computable
        for item in inputs.files:
            assert callable(item) or isinstance(item, str | os.PathLike), f"{where}: {item!r}"
        for value in inputs.values:
            assert isinstance(value(runtime), str), f"{where}: {value!r}"
    check_probe_answers(probe(runtime), where)


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def ocimux_references(text: str) -> set[str]:
    """`ocimux.x.y` as the sample's code and comments name it (strings are not names)."""
    found = {
        name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Attribute) and (name := dotted(node) or "").startswith("ocimux.")
    }
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            found |= set(re.findall(r"\bocimux(?:\.[A-Za-z_]\w*)+", token.string))
    return found


def resolves(name: str) -> bool:
    """Whether the dotted name is a module of ocimux or an attribute of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def check_python(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = f"{block.doc}:{block.line}"
    missing = sorted(n for n in ocimux_references(block.text) if not resolves(n))
    assert not missing, f"{where} names what ocimux does not have: {missing}"
    module = load_sample(block, monkeypatch)
    for cls in runtime_classes(module):
        check_runtime_class(cls, block, tmp_path)
        check_capabilities(cls.capabilities, f"{where}: {cls.__qualname__}.capabilities")
    for name, value in vars(module).items():
        if isinstance(value, Capabilities):
            check_capabilities(value, f"{where}: {name}")
    if hook_impls(module):
        check_hooks(module)
    for name, probe in probes_of(block, module).items():
        if not runs_the_binary(block, name):
            check_probe(probe, fake_runtime(tmp_path), f"{where}: {name}")


# --- toml samples ----------------------------------------------------------------------------


def is_pyproject(data: dict[str, Any]) -> bool:
    return bool({"project", "build-system", "tool"} & set(data))


def string_literals(cls: type) -> set[str]:
    """The string constants in the source of every module of `cls`'s MRO (below `object`)."""
    found: set[str] = set()
    for base in cls.__mro__[:-1]:
        spec = importlib.util.find_spec(base.__module__)
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            continue  # a frozen or built-in module (abc): no option of the plugin's there
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        found |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    return {value for value in found if isinstance(value, str)}


def check_containers_conf(block: Block, tmp_path: Path) -> None:
    """Load it as `ocimux --config FILE` would; its names resolve; plugin keys are read."""
    from ocimux.config import load_config
    from ocimux.engine._discovery import discover
    from ocimux.engine.registry import RUNTIMES_GROUP, Registry

    path = tmp_path / "containers.conf"
    path.write_text(block.text, encoding="utf-8")
    config = load_config(path, environ={})  # ConfigError names the line and the key
    # a sample's unknown key is only a warning when loading; in the docs it is a mistake
    assert not config.warnings, f"{block.id}: {config.warnings[0]}"
    registry = Registry(config, discover(RUNTIMES_GROUP))
    data = tomli.loads(block.text)
    names = set(config.runtime_names) | set(data.get("ocimux", {}).get("runtime_plugins", {}))
    for name in sorted(names):
        plugin = registry.plugin_for(name)
        assert plugin in registry.plugin_names(), f"{block.id}: {name} -> plugin {plugin!r}"
    for name, options in data.get("ocimux", {}).get("plugins", {}).items():
        plugin = registry.plugin_for(name)
        assert plugin is not None, f"{block.id}: [ocimux.plugins.{name}] names no runtime"
        read = string_literals(registry.plugin_class(plugin))
        unread = sorted(set(options) - read)
        assert not unread, f"{block.id}: plugin {plugin} reads no option {unread} of {name}"


def check_pyproject(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PEP 621 keys; ocimux's groups; each entry point names what a sample here defines."""
    from ocimux.engine.registry import RUNTIMES_GROUP
    from ocimux.engine.session import HOOKS_GROUP
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    project = tomli.loads(block.text)["project"]
    assert set(project) <= PROJECT_KEYS, f"{block.id}: {sorted(set(project) - PROJECT_KEYS)}"
    if "requires-python" in project:
        assert SpecifierSet(project["requires-python"]).contains(
            ".".join(map(str, sys.version_info[:3]))
        )
    ours = tomli.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for text in project.get("dependencies", []):
        wanted = Requirement(text)
        if wanted.name == "ocimux":
            assert wanted.specifier.contains(ours["version"]), f"{block.id}: {text}"
    samples = {module_name(b): b for b in of_kind("python") if b.doc == block.doc}
    groups = project.get("entry-points", {})
    assert groups and set(groups) <= {RUNTIMES_GROUP, HOOKS_GROUP}, f"{block.id}: {set(groups)}"
    for group, entries in groups.items():
        for name, target in entries.items():
            module, _, attr = target.partition(":")
            assert re.fullmatch(r"[a-z0-9-]+", name), f"{block.id}: entry point name {name!r}"
            assert module in samples, f"{block.id}: {target}: no sample of {block.doc} is {module}"
            with sample_sandbox(tmp_path / f"{group}-{name}", monkeypatch):
                loaded = load_sample(samples[module], monkeypatch)
            obj = getattr(loaded, attr) if attr else loaded
            if group == RUNTIMES_GROUP:
                assert module == f"ocimux_{name.replace('-', '_')}", (
                    f"{block.id}: name the module of runtime {name} ocimux_{name} (§6)"
                )
                assert isinstance(obj, type) and issubclass(obj, Runtime), f"{block.id}: {target}"
            else:
                assert hook_impls(obj), f"{block.id}: {target} implements no hook"


def check_toml(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if is_pyproject(tomli.loads(block.text)):
        check_pyproject(block, tmp_path, monkeypatch)
    else:
        check_containers_conf(block, tmp_path)


# --- shell samples ---------------------------------------------------------------------------


def shell_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell sample: lines joined at `\\`, split at && ; || |."""
    commands: list[list[str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for word in lexer:
            if word in ("&&", ";", "||", "|", "&"):
                commands.append(current)
                current = []
            else:
                current.append(word)
        commands.append(current)
    return [c for c in commands if c]


def strict(parser: argparse.ArgumentParser) -> None:
    """No abbreviated flags, in the parser and every subcommand's: the docs spell flags out."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                strict(sub)


def parse_ocimux(argv: list[str]) -> argparse.Namespace:
    """Parse with the `ocimux` CLI's own parser; its usage error becomes an AssertionError."""
    from ocimux.cli import build_parser

    parser = build_parser()
    strict(parser)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit:
        raise AssertionError(f"ocimux {shlex.join(argv)}: {stderr.getvalue().strip()}") from None
    assert args.cmd is not None or args.version, f"ocimux {shlex.join(argv)}: no command"
    return args


def parse_pytest(argv: list[str]) -> argparse.Namespace:
    """Parse with pytest's own parser after loading the `-p` plugins (nothing is collected)."""
    from _pytest.config import get_config

    config = get_config(argv)
    config.pluginmanager.consider_preparse(argv, exclude_only=False)
    try:
        args = config._parser.parse(argv)
    except pytest.UsageError as exc:
        raise AssertionError(f"pytest {shlex.join(argv)}: {exc}") from None
    if args.pyargs:
        for target in args.file_or_dir:
            assert importlib.util.find_spec(target), f"pytest --pyargs {target}: not importable"
    return args


def pip_install_targets(block: Block) -> set[str]:
    """Paths a `pip install` may name: the projects the document's pyproject samples describe."""
    names = set()
    for other in of_kind("toml"):
        data = tomli.loads(other.text)
        if other.doc == block.doc and "name" in data.get("project", {}):
            names.add(data["project"]["name"])
    return names


def check_pip(argv: list[str], block: Block) -> None:
    from packaging.requirements import Requirement

    assert argv[:1] == ["install"], f"{block.id}: pip {shlex.join(argv)}"
    ours = tomli.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for arg in argv[1:]:
        assert not arg.startswith("-"), f"{block.id}: pip option {arg} (teach this test)"
        if arg.startswith(("./", "/")):
            # example placeholder: the author's project directory, described by a sample
            assert Path(arg).name in pip_install_targets(block), f"{block.id}: pip install {arg}"
            continue
        wanted = Requirement(arg)
        assert wanted.name == "ocimux", f"{block.id}: pip install {arg}"
        extras = set(ours.get("optional-dependencies", {}))
        assert wanted.extras <= extras, f"{block.id}: ocimux has no extra {wanted.extras - extras}"


def check_shell(block: Block) -> None:
    commands = shell_commands(block.text)
    assert commands, f"{block.id}: no command"
    for command in commands:
        program, argv = command[0], command[1:]
        if program == "ocimux":
            parse_ocimux(argv)
        elif program == "pytest":
            parse_pytest(argv)
        elif program == "pip":
            check_pip(argv, block)
        else:
            raise AssertionError(f"{block.id}: `{program}`: teach this test how to check it")


# --- the tests -------------------------------------------------------------------------------


def test_every_block_has_a_known_one_word_info_string() -> None:
    blocks = [*read_blocks(PLUGINS_DOC), *read_blocks(README)]
    unknown = [f"{b.doc}:{b.line} {b.info!r}" for b in blocks if b.info not in KNOWN_INFO]
    assert not unknown, f"mark each block as one of {KNOWN_INFO}: {unknown}"


def test_the_documents_have_samples_of_every_kind() -> None:
    kinds = {(b.doc, b.info) for b in runnable_blocks()}
    assert {(PLUGINS_DOC, k) for k in ("python", "toml", "sh")} <= kinds
    assert {(README, k) for k in ("python", "toml", "sh")} <= kinds


def test_an_unmarked_or_unknown_block_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# t\n\n- item\n\n  ```\n  out\n  ```\n\n~~~console\n$ x\n~~~\n")
    assert [(b.line, b.info, b.text) for b in read_blocks("doc.md", tmp_path)] == [
        (5, "", "out\n"),
        (9, "console", "$ x\n"),
    ]
    assert not {b.info for b in read_blocks("doc.md", tmp_path)} <= set(KNOWN_INFO)


# the others run in tests/integration/test_docs_plugins_samples_live.py
@pytest.mark.parametrize("block", python_in_process(), ids=ids(python_in_process()))
def test_a_python_sample_is_true(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_sandbox(tmp_path, monkeypatch):
        check_python(block, tmp_path, monkeypatch)


@pytest.mark.parametrize("block", of_kind("toml"), ids=ids(of_kind("toml")))
def test_a_toml_sample_is_valid(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_toml(block, tmp_path, monkeypatch)


@pytest.mark.parametrize("block", of_kind("sh"), ids=ids(of_kind("sh")))
def test_a_shell_sample_parses(block: Block) -> None:
    check_shell(block)


def test_every_probe_that_runs_a_binary_has_a_fake_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = set()
    for block in python_in_process():
        with sample_sandbox(tmp_path / str(block.line), monkeypatch):
            module = load_sample(block, monkeypatch)
        found |= {
            f"{module.__name__}.{name}"
            for name in probes_of(block, module)
            if runs_the_binary(block, name)
        }
    assert found == set(BINARY_PROBES)


# --- what particular samples say they do -----------------------------------------------------


def sample_named(name: str) -> Block:
    matches = [b for b in of_kind("python") if module_name(b) == name]
    assert len(matches) == 1, f"no single sample is module {name}: update this test"
    return matches[0]


def test_the_kestrel_sample_builds_the_flags_its_text_describes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocimux import CreateRequest, ProcessIO

    with sample_sandbox(tmp_path, monkeypatch):
        cls = load_sample(sample_named("ocimux_kestrel"), monkeypatch).KestrelRuntime
    runtime = cls(sample_context(cls, tmp_path))
    assert runtime.cli().argv("start", "c1")[-3:] == ["--sandbox=strict", "start", "c1"]
    relaxed = cls(sample_context(cls, tmp_path, options={"sandbox": "relaxed"}))
    assert "--sandbox=relaxed" in relaxed.cli().global_args()
    assert runtime.kill_opts(True).argv() == ["--all-processes"]
    assert runtime.kill_opts(False).argv() == []
    io_ = runtime.layout.io("c1")

    def request(**annotations: str) -> CreateRequest:
        return CreateRequest("c1", "web", tmp_path / "containers" / "c1", io_, annotations)

    debug = runtime.create_global_args(request(**{"kestrel.example/debug": "true"}))
    assert debug[-1] == "--debug" and "--sandbox=strict" in debug
    assert "--debug" not in runtime.create_global_args(request())
    assert isinstance(io_, ProcessIO)


def test_the_sandbox_policy_sample_sends_untrusted_containers_to_runsc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_sandbox(tmp_path, monkeypatch):
        manager = check_hooks(load_sample(sample_named("ocimux_sandbox_policy"), monkeypatch))
    untrusted = {"example.com/untrusted": "true"}
    choose = manager.hook.ocimux_choose_runtime
    assert choose(name="w", annotations=untrusted, requested="runc", default="runc") == "runsc"
    assert choose(name="w", annotations={}, requested="runc", default="runc") is None
    spec: dict[str, Any] = {}
    manager.hook.ocimux_adjust_spec(spec=spec, runtime="runsc", name="w")
    assert spec == {"annotations": {"example.com/sandboxed-by": "ocimux-sandbox-policy"}}
    other: dict[str, Any] = {}
    manager.hook.ocimux_adjust_spec(spec=other, runtime="runc", name="w")
    assert other == {}


def test_the_audit_sample_appends_one_json_line_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_sandbox(tmp_path, monkeypatch):
        check_hooks(load_sample(sample_named("ocimux_audit"), monkeypatch))  # one event
        lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert isinstance(record.pop("time"), float)
    event = HOOK_CALLS["ocimux_lifecycle_event"]
    assert record == {
        "event": event["event"],
        "id": event["container"],
        "name": event["name"],
        "runtime": event["runtime"],
        **event["detail"],
    }


# --- the checks catch what they are for ------------------------------------------------------


def changed(block: Block, old: str, new: str) -> Block:
    assert old in block.text, f"{block.id} no longer contains {old!r}: update this test"
    return dataclasses.replace(block, text=block.text.replace(old, new, 1))


def readme_runtime_sample() -> Block:
    return next(b for b in of_kind("python") if b.doc == README and "(Runtime)" in b.text)


@pytest.mark.parametrize(
    ("block", "old", "new", "says"),
    [
        pytest.param(
            readme_runtime_sample(), "def create(", "def create_container(", "create_container",
            id="old-verb-name",
        ),
        pytest.param(
            sample_named("ocimux_kestrel"), "def pause(", "def pause_container(",
            "pause_container", id="old-verb-on-an-oci-cli-runtime",
        ),
        pytest.param(
            readme_runtime_sample(), "# start, kill,", "# kill,", "leaves",
            id="left-out-verbs-not-said",
        ),
        pytest.param(
            sample_named("ocimux_kestrel"), "api_version: ClassVar[int] = 1",
            "api_version: ClassVar[int] = 2", "api_version 2", id="api-version",
        ),
        pytest.param(
            sample_named("ocimux_kestrel"), "    def resume(", "    def runtime_info(self):\n"
            "        return None\n\n    def resume(", "runtime_info", id="old-info-name",
        ),
        pytest.param(
            readme_runtime_sample(), "# by capabilities.",
            "# by capabilities; see ocimux.vmruntime.VmRuntime.",
            "ocimux.vmruntime.VmRuntime", id="a-name-ocimux-lacks",
        ),
        pytest.param(
            sample_named("ocimux_sandbox_policy"), "def ocimux_adjust_spec(spec, runtime, name)",
            "def ocimux_adjust_spec(spec, runtime, container)", "container",
            id="hook-argument-not-in-spec",
        ),
    ],
)  # fmt: skip
def test_a_broken_python_sample_fails(
    block: Block,
    old: str,
    new: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sample_sandbox(tmp_path, monkeypatch), pytest.raises(Exception, match=says):
        check_python(changed(block, old, new), tmp_path, monkeypatch)


def first_toml(doc: str, contains: str) -> Block:
    return next(b for b in of_kind("toml") if b.doc == doc and contains in b.text)


@pytest.mark.parametrize(
    ("block", "old", "new", "says"),
    [
        pytest.param(
            first_toml(PLUGINS_DOC, "[engine.runtimes]"), "pause = false", "pasue = false",
            "did you mean 'pause'", id="misspelt-capability",
        ),
        pytest.param(
            first_toml(PLUGINS_DOC, "[engine.runtimes]"), 'myrt = "crun"', 'myrt = "crum"',
            "plugin 'crum'", id="unknown-driving-plugin",
        ),
        pytest.param(
            first_toml(PLUGINS_DOC, "namespace ="), "debug = true", "debgu = true",
            "reads no option", id="unread-plugin-option",
        ),
        pytest.param(
            first_toml(PLUGINS_DOC, "[project]"), 'kestrel = "ocimux_kestrel:KestrelRuntime"',
            'kestrel = "ocimux_kestrel:KestrelRuntim"', "KestrelRuntim",
            id="entry-point-to-nothing",
        ),
        pytest.param(
            first_toml(PLUGINS_DOC, "[project]"), "requires-python", "python-requires",
            "python-requires", id="not-a-pep-621-key",
        ),
        pytest.param(
            first_toml(README, "ocimux.runtimes"), '"ocimux.runtimes"', '"ocimux.runtime"',
            "ocimux.runtime", id="unknown-group",
        ),
    ],
)  # fmt: skip
def test_a_broken_toml_sample_fails(
    block: Block,
    old: str,
    new: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(Exception, match=re.escape(says)):
        check_toml(changed(block, old, new), tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("ocimux runtimes", "ocimux runtimes --fromat json", "--fromat"),
        ("--runtime kestrel", "--runtim kestrel", "--runtim"),
        ("ocimux run", "ocimux launch", "launch"),
        ("pip install ./ocimux-kestrel", "pip install ./ocimux-kestral", "ocimux-kestral"),
        ("pip install", "pipx install", "pipx"),
    ],
)
def test_a_broken_shell_sample_fails(old: str, new: str, says: str) -> None:
    block = next(b for b in of_kind("sh") if "ocimux run " in b.text)
    with pytest.raises(AssertionError, match=re.escape(says)):
        check_shell(changed(block, old, new))


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("--ocimux-runtime NAME", "--ocimux-runtimes NAME", "--ocimux-runtimes"),
        ("--pyargs ocimux.testing.suite", "--pyargs ocimux.testing.suites", "suites"),
        ("'ocimux[kit]'", "'ocimux[kits]'", "kits"),
    ],
)
def test_a_broken_pytest_command_fails(old: str, new: str, says: str) -> None:
    block = next(b for b in of_kind("sh") if b.doc == PLUGINS_DOC and "pytest" in b.text)
    with pytest.raises(AssertionError, match=re.escape(says)):
        check_shell(changed(block, old, new))
