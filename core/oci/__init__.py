"""The OCI runtime spec, and the runtimes that run it.

The spec family builds the document every runtime is given (`spec`, `specbuilder`,
`specmounts`, `containerconfig`, `containerdefaults`, `seccomp`, `devices`, `bundle`,
`rootfs`, `overlay`); the runtime building blocks run it: `cli` (the OCI runtime command line,
`OciCli`), `runtime` (`OciCliRuntime`, under conmon: `conmon`), `probes` (probes every OCI-CLI
runtime shares), `processruntime` (`ProcessRuntime`, a process under ocimux's own monitor).
"""
