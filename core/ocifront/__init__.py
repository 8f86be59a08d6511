"""`ocimux-oci`: a runc-compatible OCI runtime command line that routes to ocimux backends.

What the engines really call (seen with a logging wrapper as `podman --runtime`, podman 4.3.1
and conmon 2.1.6 on Debian 12; containerd's runc shim from go-runc's source, see
/work/shared/reference/podman-oci.md §5):

- podman passes global flags only from `[engine.runtimes_flags]` for the runtime's basename,
  plus `--log-format=json --log <rundir>/userdata/oci-log` (before the verb) when the basename
  is in `runtime_supports_json` (so for `ocimux-oci` only if the user lists it there). No
  `--root`: the runtime's default is used, ours is /run/ocimux-oci. 4.3.1 reads no
  `[engine.runtimes_flags]`; its `--runtime-flag` is lost in the cleanup process's
  `delete --force` and at `podman start` after a stop; conmon passes the runtime no OCIMUX_*
  variable (CONTAINERS_CONF does reach it). So a backend's flags belong in ocimux's config,
  and the front records them at create.
- conmon: `create --bundle B --pid-file P [--console-socket /tmp/conmon-term.XXXXXX] ID`,
  stdio = conmon's pipes (or nothing with a terminal);
  `exec --pid-file P --process F --detach ID` (+ `--console-socket` with `-t`).
- podman: `start ID`, `kill ID 15` / `kill ID 9` (decimal signal, `--all` with `kill --all`),
  `pause ID`, `resume ID`, `delete --force ID`, `update --resources=F ID`, `checkpoint
  --image-path ... --work-path ... ID`, `--version`; `top` and `inspect` call no runtime verb.
- containerd's runc shim (go-runc): `--root R --log B/log.json --log-format json
  [--systemd-cgroup]` before every verb; `create --bundle B --pid-file P [--console-socket S]
  [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID`, `exec --process F --detach --pid-file
  P ID`, `kill [--all] ID N`, `delete [--force] ID`, `ps --format json ID`, `update
  --resources - ID` (JSON on stdin), `state ID`, `pause`, `resume`, `features`.

Every verb after `create` reads one record (`records`) and execs the backend with
`--root <root>/ocimux/backends/<name>`; see `main`. Shim v2 backends (runc-shim, kata) are
refused at create until the shim v2 relay exists: `routing.resolve` is the seam where it goes.
"""
