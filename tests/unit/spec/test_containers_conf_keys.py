"""containers.conf `[containers]`: every key applied, accepted (moot) or refused; no process.

The mapping (`containerkeys`), the parsing and resolving of the applied keys
(`containerdefaults`), their effect on the spec (`apply_config`), what the record keeps, and the
CLI's podman-style boolean flags. The same keys are proven from inside real containers in
tests/integration/test_containers_conf_defaults.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocimux.base.errors import InvalidArgumentError
from ocimux.base.linuxcaps import ALL_CAPABILITIES
from ocimux.cli import build_parser
from ocimux.cli._runflags import container_config
from ocimux.config.podman_keys import PODMAN_KEYS
from ocimux.oci import containerkeys, specbuilder
from ocimux.oci import devices as devices_module
from ocimux.oci.containerconfig import ContainerConfig, Device, Mount
from ocimux.oci.containerdefaults import (
    APPLIED_KEYS,
    DEFAULT_SHM_SIZE,
    ContainerDefaults,
    DefaultValueError,
    defaults_from_table,
    resolve,
)
from ocimux.oci.containerkeys import ACCEPTED, RULES, default_needs, refusals
from ocimux.oci.spec import default_spec
from ocimux.oci.specbuilder import INIT_PATH_IN_CONTAINER, Applied, apply_config

CID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#: the real host probes (the `host` fixture replaces them for every other test)
APPARMOR_PROBE, SELINUX_PROBE = containerkeys.apparmor_enabled, containerkeys.selinux_enabled
CGROUP_V2_PROBE = containerkeys.cgroup_v2
MIB = 2**20


@pytest.fixture(autouse=True)
def host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every capability, no hard limits, one host device; neither AppArmor nor SELinux."""
    monkeypatch.setattr(specbuilder, "bounding_set", lambda: ALL_CAPABILITIES)
    monkeypatch.setattr(specbuilder, "_has_sys_resource", lambda: True)
    monkeypatch.setattr(specbuilder, "_own_hard", lambda name: -1)
    monkeypatch.setattr(devices_module, "host_devices", lambda: [Device("/dev/null", "/dev/null")])
    monkeypatch.setattr(containerkeys, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(containerkeys, "selinux_enabled", lambda: False)
    monkeypatch.setattr(containerkeys, "cgroup_v2", lambda: True)
    for name in ("http_proxy", "HTTPS_PROXY", "no_proxy", "OCX_HOST_VAR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("10.1.2.3\timage-host\n", encoding="utf-8")
    return root


Apply = Callable[..., tuple[dict[str, Any], Applied]]


@pytest.fixture
def apply(tmp_path: Path, rootfs: Path) -> Apply:
    """apply_config on a fresh default spec with `table` as containers.conf `[containers]`."""

    def run(
        cfg: ContainerConfig | None = None, table: dict[str, Any] | None = None, **extra: Any
    ) -> tuple[dict[str, Any], Applied]:
        spec = default_spec(rootfs=rootfs, args=["sh"], annotations=extra.pop("annotations", None))
        base = {"seccomp_profile": str(tmp_path / "no-profile.json")}
        defaults = defaults_from_table({**base, **(table or {})}, **extra)
        applied = apply_config(
            spec, cfg or ContainerConfig(), cid=CID, name="web_1", rootfs=rootfs,
            bundle_dir=tmp_path / "bundle", defaults=defaults, can=lambda capability: True,
        )  # fmt: skip
        return spec, applied

    return run


def mount_at(spec: dict[str, Any], destination: str) -> dict[str, Any] | None:
    found = [m for m in spec["mounts"] if m["destination"] == destination]
    assert len(found) <= 1, found
    return found[0] if found else None


def namespaces(spec: dict[str, Any]) -> set[str]:
    return {n["type"] for n in spec["linux"]["namespaces"]}


# --- the mapping covers every key podman knows ------------------------------------------------


def test_every_podman_containers_key_is_applied_or_has_a_reason() -> None:
    podman = set(PODMAN_KEYS["containers"])
    assert set(APPLIED_KEYS) <= podman
    assert set(ACCEPTED) == podman - set(APPLIED_KEYS)
    assert set(RULES) <= podman
    # every accepted key whose value can matter has a rule refusing the values that do
    assert set(ACCEPTED) - set(RULES) == {"log_tag", "prepare_volume_on_create", "userns_size"}


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("userns", "auto", "user namespace"),
        ("userns", "keep-id", "user namespace"),
        ("log_driver", "journald", "k8s-file"),
        ("log_driver", "none", "k8s-file"),
        ("log_path", "/var/log/ctr", "own directory"),
        ("label_users", True, "SELinux user or role"),
        ("keyring", False, "session keyring"),
        ("dns_servers", ["1.1.1.1"], "no network stack"),
        ("dns_searches", ["example.org"], "no network stack"),
        ("dns_options", ["ndots:2"], "no network stack"),
        ("interface_name", "eth", "network interface"),
        ("netns", "pasta", "no network stack"),
        ("netns", "bridge", "no network stack"),
        ("netns", "ns:/run/netns/x", "no network stack"),
        ("pidns", "container:x", "private and host"),
        ("utsns", "ns:/proc/1/ns/uts", "private and host"),
        ("cgroupns", "ns:/x", "private and host"),
        ("ipcns", "container:x", "private, shareable"),
        ("cgroups", "split", "split"),
    ],
)
def test_values_ocimux_cannot_honour_are_refused(key: str, value: Any, fragment: str) -> None:
    [found] = refusals({key: value, "read_only": True})
    assert (found.key, found.value) == (key, value)
    assert fragment in found.why
    assert found.todo
    assert refusals({key: value}, ignore=(key,)) == []  # the explicit opt-out


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("userns", "host"), ("userns", ""), ("userns_size", 1000), ("log_driver", "k8s-file"),
        ("log_driver", "json-file"), ("log_driver", ""), ("log_path", ""), ("log_tag", "{{.Name}}"),
        ("label_users", False), ("keyring", True), ("dns_servers", []), ("interface_name", "device"),
        ("prepare_volume_on_create", True), ("label", True), ("label", False),
        ("apparmor_profile", "container-default"), ("netns", "private"), ("netns", "none"),
        ("netns", "host"), ("ipcns", "none"), ("ipcns", "shareable"), ("cgroupns", "host"),
        ("cgroups", "no-conmon"), ("cgroups", "disabled"), ("pidns", "host"), ("utsns", ""),
    ],
)  # fmt: skip
def test_values_without_effect_here_or_applied_are_accepted(key: str, value: Any) -> None:
    assert refusals({key: value}) == []


def test_apparmor_and_selinux_matter_where_they_are_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containerkeys, "apparmor_enabled", lambda: True)
    monkeypatch.setattr(containerkeys, "selinux_enabled", lambda: True)
    found = refusals({"apparmor_profile": "container-default", "label": True})
    assert [(r.key, "enabled on this host" in r.why) for r in found] == [
        ("apparmor_profile", True),
        ("label", True),
    ]
    assert refusals({"apparmor_profile": "", "label": False}) == []  # nothing asked of them


def test_cgroup_conf_needs_cgroup_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"cgroup_conf": ["memory.high=1000000"]}
    assert refusals(table) == []
    monkeypatch.setattr(containerkeys, "cgroup_v2", lambda: False)
    [found] = refusals(table)
    assert found.key == "cgroup_conf" and "cgroup v1" in found.why
    assert refusals({"cgroup_conf": []}) == []


def test_the_host_probes_read_the_kernel() -> None:
    flag = Path("/sys/module/apparmor/parameters/enabled")
    assert APPARMOR_PROBE() is (flag.exists() and flag.read_text().startswith("Y"))
    assert SELINUX_PROBE() is os.path.exists("/sys/fs/selinux/enforce")
    assert CGROUP_V2_PROBE() is os.path.exists("/sys/fs/cgroup/cgroup.controllers")


# --- parsing the applied keys -----------------------------------------------------------------


def test_new_keys_parse(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    d = defaults_from_table(
        {
            "read_only": True, "init": True, "privileged": True, "devices": ["/dev/null:/dev/n:r"],
            "volumes": [f"{tmp_path}:/data:ro", f"{tmp_path}:/twice"],
            "mounts": ["type=tmpfs,destination=/scratch", f"type=bind,src={tmp_path},dst=/twice"],
            "annotations": ["a=1", "flag"], "shm_size": "1g", "oom_score_adj": -10,
            "netns": "host", "pidns": "host", "ipcns": "none", "utsns": "host",
            "cgroupns": "private", "env_host": True, "http_proxy": False,
            "base_hosts_file": str(hosts), "container_name_as_hostname": True,
            "cgroup_conf": ["memory.high=1073741824"], "host_containers_internal_ip": "10.0.0.1",
            "cgroups": "disabled",
        },
        engine_init_path="/opt/init",
    )  # fmt: skip
    assert d.devices == (Device("/dev/null", "/dev/n", "r"),)
    assert [m.destination for m in d.mounts] == ["/data", "/twice", "/scratch"]  # first wins
    assert d.mounts[1].source == str(tmp_path) and d.mounts[1].options[0] == "rbind"
    assert d.annotations == (("a", "1"), ("flag", ""))
    assert (d.shm_size, d.oom_score_adj) == (2**30, -10)
    assert d.cgroup_conf == (("memory.high", "1073741824"),)
    assert (d.engine_init_path, d.cgroups, d.http_proxy) == ("/opt/init", "disabled", False)


def test_ignored_keys_count_as_unset() -> None:
    d = defaults_from_table({"read_only": True, "shm_size": "x"}, ignore=("read_only", "shm_size"))
    assert d == ContainerDefaults()


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("read_only", "yes", "must be a bool"),
        ("devices", "/dev/null", "must be an array of strings"),
        ("devices", ["/dev/nope-ocx"], "/dev/nope-ocx"),
        ("volumes", ["relative:/x"], "named volumes are not supported"),
        ("volumes", ["/nonexistent-ocx:/x"], "does not exist on the host"),
        ("mounts", ["type=volume,dst=/x"], "type=volume is not supported"),
        ("annotations", ["=x"], "invalid annotation"),
        ("cgroup_conf", ["memory.high"], "invalid cgroup file"),
        ("shm_size", "0", "greater than 0"),
        ("shm_size", "lots", "use a number"),
        ("shm_size", 65536, "must be a str"),
        ("oom_score_adj", 1001, "out of range"),
        ("oom_score_adj", "1", "must be a int"),
        ("base_hosts_file", "relative", "not an existing file"),
        ("base_hosts_file", "/nonexistent-ocx", "not an existing file"),
        ("host_containers_internal_ip", "my-host", "not an IP address"),
    ],
)
def test_bad_values_name_their_key(key: str, value: Any, fragment: str) -> None:
    with pytest.raises(DefaultValueError) as info:
        defaults_from_table({key: value}, ["a.conf"])
    assert (info.value.key, info.value.value) == (key, value)
    assert fragment in info.value.why
    assert str(info.value).startswith(f"containers.conf [containers] (a.conf): {key}")


# --- a container's own options win -----------------------------------------------------------


def test_resolve_fills_only_what_the_container_left_open() -> None:
    d = ContainerDefaults(
        read_only=True, init=True, privileged=True, env_host=True, http_proxy=False,
        oom_score_adj=5, netns="host", shm_size=MIB, container_name_as_hostname=True,
    )  # fmt: skip
    got = resolve(ContainerConfig(), d, "my_box")
    assert (got.read_only, got.init, got.privileged, got.network) == (True, True, True, "host")
    assert (got.env_host, got.http_proxy, got.oom_score_adj, got.shm_size) == (True, False, 5, MIB)
    assert got.hostname == "mybox"  # podman drops '_' from the name
    own = ContainerConfig(
        read_only=False, init=False, privileged=False, env_host=False, http_proxy=True,
        oom_score_adj=0, network="none", shm_size=2 * MIB, hostname="mine",
    )  # fmt: skip
    assert resolve(own, d, "my_box") == own
    assert resolve(got, d, "my_box") == got  # idempotent
    assert resolve(ContainerConfig(), ContainerDefaults(netns="private"), "x").network == "none"
    uts_host = ContainerDefaults(container_name_as_hostname=True, utsns="host")
    assert resolve(ContainerConfig(), uts_host, "x").hostname is None


def test_what_the_record_keeps(apply: Apply) -> None:
    _, applied = apply(ContainerConfig(privileged=False), {"read_only": True, "privileged": True})
    record = applied.record(ContainerConfig(privileged=False))
    assert record == {"read_only": True, "privileged": False}  # podman's defaults left out
    _, plain = apply()
    assert plain.record(ContainerConfig()) == {}
    assert Applied().record(ContainerConfig(init=True)) == {"init": True}  # --bundle


# --- what a runtime must be able to do --------------------------------------------------------


def test_default_needs_name_the_keys() -> None:
    assert default_needs(ContainerConfig(), ContainerDefaults()) == []
    d = ContainerDefaults(
        read_only=True, init=True, privileged=True, devices=(Device("/dev/null", "/dev/n"),),
        mounts=(Mount("tmpfs", "/x", "tmpfs"),), shm_size=MIB, oom_score_adj=3, netns="host",
        pidns="host", utsns="host", ipcns="host", cgroupns="private", base_hosts_file="none",
        container_name_as_hostname=True, host_containers_internal_ip="10.0.0.1",
        cgroup_conf=(("memory.high", "1"),), cgroups="disabled",
    )  # fmt: skip
    needs = default_needs(ContainerConfig(), d)
    assert ("isolation", "container_name_as_hostname") not in needs  # moot with utsns = host
    assert ("isolation", "container_name_as_hostname") in default_needs(
        ContainerConfig(), ContainerDefaults(container_name_as_hostname=True)
    )
    assert {k for c, k in needs if c == "isolation"} == {
        "read_only", "init", "volumes/mounts", "shm_size", "oom_score_adj", "pidns", "utsns",
        "ipcns", "cgroupns", "base_hosts_file", "host_containers_internal_ip", "netns",
        "privileged",
    }  # fmt: skip
    assert {(c, k) for c, k in needs if c != "isolation"} == {
        ("host_network", "netns"), ("privileged", "privileged"), ("devices", "devices"),
        ("resource_limits", "cgroup_conf"), ("no_cgroups", "cgroups"),
    }  # fmt: skip
    # what the container decided itself is the run flag's question, not the key's
    own = ContainerConfig(read_only=False, init=False, privileged=False, network="none",
                          oom_score_adj=0, shm_size=MIB, hostname="h")  # fmt: skip
    left = {k for _, k in default_needs(own, d)}
    assert not left & {"read_only", "init", "privileged", "netns", "oom_score_adj", "shm_size"}


# --- the spec ---------------------------------------------------------------------------------


def test_read_only_init_privileged(apply: Apply, tmp_path: Path) -> None:
    init = tmp_path / "catatonit"
    init.write_text("")
    init.chmod(0o755)
    spec, _ = apply(table={"read_only": True, "init": True}, engine_init_path=str(init))
    assert spec["root"]["readonly"] is True
    assert mount_at(spec, "/tmp")["type"] == "tmpfs"  # podman's read-only tmpfs
    assert spec["process"]["args"] == [INIT_PATH_IN_CONTAINER, "--", "sh"]
    assert mount_at(spec, INIT_PATH_IN_CONTAINER)["source"] == str(init)  # [engine] init_path
    spec, _ = apply(ContainerConfig(read_only=False, init=False), {"read_only": True, "init": True})
    assert spec["root"]["readonly"] is False
    assert spec["process"]["args"] == ["sh"]
    spec, _ = apply(table={"privileged": True})
    assert spec["process"]["capabilities"]["bounding"] == list(ALL_CAPABILITIES)
    assert spec["linux"]["maskedPaths"] == []


def test_devices_volumes_mounts_annotations_add_to_the_containers_own(
    apply: Apply, tmp_path: Path
) -> None:
    table = {
        "devices": ["/dev/null:/dev/conf-null", "/dev/zero:/dev/own"],
        "volumes": [f"{tmp_path}:/conf-data:ro", f"{tmp_path}:/taken"],
        "mounts": ["type=tmpfs,destination=/conf-scratch"],
        "annotations": ["team=infra", "own=conf"],
    }
    own = ContainerConfig(
        devices=(Device("/dev/null", "/dev/own", "r"),),
        mounts=(Mount("tmpfs", "/taken", "tmpfs", ("rw",)),),
    )
    spec, _ = apply(own, table, annotations={"own": "mine"})
    paths = {d["path"] for d in spec["linux"]["devices"]}
    assert paths == {"/dev/conf-null", "/dev/own"}
    assert mount_at(spec, "/conf-data")["options"][:2] == ["rbind", "ro"]
    assert mount_at(spec, "/taken")["type"] == "tmpfs"  # the container's mount wins
    assert mount_at(spec, "/conf-scratch")["type"] == "tmpfs"
    assert spec["annotations"] == {"team": "infra", "own": "mine"}


def test_shm_size_oom_score_adj_cgroup_conf(apply: Apply) -> None:
    spec, _ = apply()
    assert "size=65536k" in mount_at(spec, "/dev/shm")["options"]
    assert "oomScoreAdj" not in spec["process"]
    table = {"shm_size": "128m", "oom_score_adj": 500, "cgroup_conf": ["memory.high=1000000"]}
    spec, _ = apply(table=table)
    assert f"size={128 * MIB}" in mount_at(spec, "/dev/shm")["options"]
    assert spec["process"]["oomScoreAdj"] == 500
    assert spec["linux"]["resources"]["unified"] == {"memory.high": "1000000"}
    spec, _ = apply(ContainerConfig(shm_size=2 * MIB, oom_score_adj=-1), table)
    assert f"size={2 * MIB}" in mount_at(spec, "/dev/shm")["options"]
    assert spec["process"]["oomScoreAdj"] == -1
    assert DEFAULT_SHM_SIZE == 64 * MIB


def test_a_score_below_ours_needs_cap_sys_resource(
    apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(specbuilder, "_has_sys_resource", lambda: False)
    monkeypatch.setattr(specbuilder, "_own_oom_score_adj", lambda: 0)
    assert apply(table={"oom_score_adj": 10})[0]["process"]["oomScoreAdj"] == 10
    with pytest.raises(InvalidArgumentError) as info:
        apply(table={"oom_score_adj": -10})
    assert "containers.conf [containers] oom_score_adj to -10" in str(info.value)
    assert "CAP_SYS_RESOURCE" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="cannot set --oom-score-adj to -1"):
        apply(ContainerConfig(oom_score_adj=-1))


def test_namespaces(apply: Apply) -> None:
    spec, _ = apply()
    assert namespaces(spec) == {"pid", "network", "ipc", "uts", "mount"}
    table = {"netns": "host", "pidns": "host", "ipcns": "host", "utsns": "host"}
    spec, applied = apply(table=table)
    assert namespaces(spec) == {"mount"}
    assert "hostname" not in spec and applied.hostname == socket.gethostname()
    assert mount_at(spec, "/dev/shm")["source"] == "/dev/shm"  # the host's, as podman binds it
    spec, _ = apply(ContainerConfig(network="none"), {"netns": "host", "cgroupns": "private"})
    assert namespaces(spec) == {"pid", "network", "ipc", "uts", "mount", "cgroup"}
    spec, _ = apply(table={"ipcns": "none"})
    assert "ipc" in namespaces(spec) and mount_at(spec, "/dev/shm") is None


def test_shared_namespaces_refuse_what_would_change_the_host(apply: Apply) -> None:
    with pytest.raises(InvalidArgumentError, match="--hostname and --domainname"):
        apply(ContainerConfig(hostname="h"), {"utsns": "host"})
    with pytest.raises(InvalidArgumentError, match="kernel.shmmax"):
        apply(ContainerConfig(sysctls=(("kernel.shmmax", "1"),)), {"ipcns": "host"})


def test_env_host_and_http_proxy(apply: Apply, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy:3128")
    monkeypatch.setenv("OCX_HOST_VAR", "here")
    env = apply()[0]["process"]["env"]
    assert "http_proxy=http://proxy:3128" in env  # podman's default http_proxy = true
    assert not any(e.startswith("OCX_HOST_VAR=") for e in env)
    env = apply(table={"http_proxy": False})[0]["process"]["env"]
    assert not any(e.startswith("http_proxy=") for e in env)
    env = apply(table={"env_host": True, "env": ["OCX_HOST_VAR=conf"]})[0]["process"]["env"]
    assert "OCX_HOST_VAR=conf" in env  # containers.conf's env over the host's
    env = apply(table={"env_host": True})[0]["process"]["env"]
    assert "OCX_HOST_VAR=here" in env
    assert env.count(next(e for e in env if e.startswith("PATH="))) == 1
    env = apply(ContainerConfig(env_host=False, http_proxy=False), {"env_host": True})[0]
    assert not any(e.startswith(("OCX_HOST_VAR=", "http_proxy=")) for e in env["process"]["env"])


def test_hosts_file(apply: Apply, tmp_path: Path) -> None:
    def hosts(table: dict[str, Any], cfg: ContainerConfig | None = None) -> str:
        return apply(cfg, table)[1].files["hosts"]

    plain = hosts({})
    assert plain.startswith("127.0.0.1\tlocalhost") and plain.endswith(
        "127.0.1.1\t0123456789ab web_1\n"
    )
    assert hosts({"base_hosts_file": "none"}) == plain
    image = hosts({"base_hosts_file": "image"})
    assert image.startswith("10.1.2.3\timage-host\n127.0.0.1\tlocalhost")
    base = tmp_path / "base-hosts"
    base.write_text("192.168.0.9 db\n127.0.0.1 localhost\n")
    assert hosts({"base_hosts_file": str(base)}).startswith(
        "192.168.0.9 db\n127.0.0.1 localhost\n1"
    )
    entry = hosts({"host_containers_internal_ip": "10.0.0.1"})
    assert "10.0.0.1\thost.containers.internal host.docker.internal\n" in entry
    assert "host.containers" not in hosts({"host_containers_internal_ip": "none"})
    named = apply(table={"container_name_as_hostname": True})
    assert named[1].hostname == named[0]["hostname"] == "web1"


# --- the CLI's podman-style flags --------------------------------------------------------------


def parse(*flags: str) -> ContainerConfig:
    return container_config(build_parser().parse_args(["run", *flags, "--rootfs", "/r", "sh"]))


def test_boolean_flags_leave_the_default_to_containers_conf() -> None:
    assert parse() == ContainerConfig()
    assert parse("--read-only", "--init", "--privileged", "--env-host", "--http-proxy") == (
        ContainerConfig(read_only=True, init=True, privileged=True, env_host=True, http_proxy=True)
    )
    off = "--read-only=false", "--init=false", "--privileged=false", "--http-proxy=false"
    assert parse(*off) == ContainerConfig(
        read_only=False, init=False, privileged=False, http_proxy=False
    )
    assert parse("--init=true", "--env-host=false") == ContainerConfig(init=True, env_host=False)
    args = build_parser().parse_args(["run", "--rootfs", "/r", "--init", "sh", "-c", "x"])
    assert args.command == ["sh", "-c", "x"]  # the next word is the command's, as in podman
    assert parse("--init-path", "/x").init is True
    assert parse("--shm-size", "128m", "--oom-score-adj", "-5") == ContainerConfig(
        shm_size=128 * MIB, oom_score_adj=-5
    )


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--shm-size", "0"), "--shm-size"),
        (("--shm-size", "big"), "--shm-size"),
        (("--oom-score-adj", "1001"), "--oom-score-adj"),
        (("--network", "bridge"), "--network"),
    ],
)
def test_bad_flag_values(flags: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse(*flags)
    assert fragment in str(info.value)
