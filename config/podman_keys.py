"""Every key podman's containers.conf parser knows, with its type: data, not code.

From go.podman.io/common `pkg/config/config.go` (containers/common f437c58a, the toml tags and Go
types of Config's tables; podman 5.x reads the same). ocimux validates each key of a podman
table against its type as podman's TOML decoder does (a string where an integer belongs is an
error on every command, in podman too), and reports any other key as unknown: a warning, since
podman ignores it. The types are named after the Go ones:

- `string`, `bool`; `int` (int, int64, *int); `uint` (uint, uint64: podman 4.3.1's decoder
  takes any integer, wrapping a negative one); `uint16`, `uint32` (range-checked, as podman does);
- `strings`: an attributedstring.Slice, an array of strings that may hold `{append = true}`;
- `map_strings`, `map_string`: tables of string arrays or strings;
- `destinations`: `[engine.service_destinations.NAME]` tables (uri, identity, is_machine);
- `subnet_pools`: an array of `{base = "CIDR", size = N}`;
- `size`: `events_logfile_max_size`, a byte count given as a string ("1m") or an integer.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DESTINATION_KEYS", "LEGACY_KEYS", "PODMAN_KEYS", "SUBNET_POOL_KEYS"]

# fmt: off
#: table -> key -> type name (see the module docstring)
PODMAN_KEYS: Final[dict[str, dict[str, str]]] = {
    "containers": {
        "annotations": "strings",
        "apparmor_profile": "string",
        "base_hosts_file": "string",
        "cgroup_conf": "strings",
        "cgroupns": "string",
        "cgroups": "string",
        "container_name_as_hostname": "bool",
        "default_capabilities": "strings",
        "default_sysctls": "strings",
        "default_ulimits": "strings",
        "devices": "strings",
        "dns_options": "strings",
        "dns_searches": "strings",
        "dns_servers": "strings",
        "env": "strings",
        "env_host": "bool",
        "host_containers_internal_ip": "string",
        "http_proxy": "bool",
        "init": "bool",
        "init_path": "string",
        "interface_name": "string",
        "ipcns": "string",
        "keyring": "bool",
        "label": "bool",
        "label_users": "bool",
        "log_driver": "string",
        "log_path": "string",
        "log_size_max": "int",
        "log_tag": "string",
        "mounts": "strings",
        "netns": "string",
        "no_hosts": "bool",
        "oom_score_adj": "int",
        "pidns": "string",
        "pids_limit": "int",
        "prepare_volume_on_create": "bool",
        "privileged": "bool",
        "read_only": "bool",
        "seccomp_profile": "string",
        "shm_size": "string",
        "tz": "string",
        "umask": "string",
        "userns": "string",
        "userns_size": "int",
        "utsns": "string",
        "volumes": "strings",
    },
    "engine": {
        "active_service": "string",
        "add_compression": "strings",
        "cdi_spec_dirs": "strings",
        "cgroup_check": "bool",
        "cgroup_manager": "string",
        "chown_copied_files": "bool",
        "compat_api_enforce_docker_hub": "bool",
        "compose_providers": "strings",
        "compose_warning_logs": "bool",
        "compression_format": "string",
        "compression_level": "int",
        "conmon_env_vars": "strings",
        "conmon_path": "strings",
        "conmonrs_path": "strings",
        "database_backend": "string",
        "detach_keys": "string",
        "enable_port_reservation": "bool",
        "env": "strings",
        "events_container_create_inspect_data": "bool",
        "events_logfile_max_size": "size",
        "events_logfile_path": "string",
        "events_logger": "string",
        "exit_command_delay": "uint",
        "healthcheck_events": "bool",
        "helper_binaries_dir": "strings",
        "hooks_dir": "strings",
        "image_build_format": "string",
        "image_copy_tmp_dir": "string",
        "image_default_format": "string",
        "image_default_transport": "string",
        "image_parallel_copies": "uint",
        "image_volume_mode": "string",
        "infra_command": "string",
        "infra_image": "string",
        "init_path": "string",
        "kube_generate_type": "string",
        "lock_type": "string",
        "multi_image_archive": "bool",
        "namespace": "string",
        "network_cmd_options": "strings",
        "network_cmd_path": "string",
        "no_pivot_root": "bool",
        "num_locks": "uint32",
        "platform_to_oci_runtime": "map_string",
        "pod_exit_policy": "string",
        "podmansh_timeout": "uint",
        "pull_policy": "string",
        "remote": "bool",
        "remote_identity": "string",
        "remote_uri": "string",
        "retry": "uint",
        "retry_delay": "string",
        "runtime": "string",
        "runtime_path": "strings",
        "runtime_supports_json": "strings",
        "runtime_supports_kvm": "strings",
        "runtime_supports_nocgroup": "strings",
        "runtimes": "map_strings",
        "service_destinations": "destinations",
        "service_timeout": "uint",
        "ssh_config": "string",
        "static_dir": "string",
        "stop_timeout": "uint",
        "tmp_dir": "string",
        "volume_path": "string",
        "volume_plugin_timeout": "uint",
        "volume_plugins": "map_string",
    },
    "network": {
        "cni_plugin_dirs": "strings",
        "default_network": "string",
        "default_rootless_network_cmd": "string",
        "default_subnet": "string",
        "default_subnet_pools": "subnet_pools",
        "dns_bind_port": "uint16",
        "firewall_driver": "string",
        "netavark_plugin_dirs": "strings",
        "network_backend": "string",
        "network_config_dir": "string",
        "pasta_options": "strings",
    },
    "secrets": {
        "driver": "string",
        "opts": "map_string",
    },
    "configmaps": {
        "driver": "string",
        "opts": "map_string",
    },
    "machine": {
        "cpus": "uint",
        "disk_size": "uint",
        "image": "string",
        "memory": "uint",
        "provider": "string",
        "rosetta": "bool",
        "user": "string",
        "volumes": "strings",
    },
    "farms": {
        "default": "string",
        "list": "map_strings",
    },
    "podmansh": {
        "container": "string",
        "shell": "string",
        "timeout": "uint",
    },
}

#: `[engine.service_destinations.NAME]` keys and `[[network.default_subnet_pools]]` keys.
DESTINATION_KEYS: Final = {"uri": "string", "identity": "string", "is_machine": "bool"}
SUBNET_POOL_KEYS: Final = {"base": "string", "size": "int"}

#: Keys older podman releases read (containers/common v0.30 and later) and long-lived files
#: still hold; accepted with any value and ignored, without a warning.
LEGACY_KEYS: Final[dict[str, frozenset[str]]] = {
    "engine": frozenset({
        "machine_enabled",  # v0.37-v1.0
        "machine_image",  # v0.43-v0.45
        "runtime_supports_nocgroupv2",  # up to v0.33
        "signature_policy_path",  # Debian's sample file of podman 4.3
    }),
    "containers": frozenset({"rootless_networking"}),  # v0.39-v0.46
}
# fmt: on
