"""Monitors and their clients: conmon's protocol on both sides, and the container's log.

`monitor` (the server side every monitor of ocimux's own uses), `processmonitor` (the monitor
process of a `ProcessRuntime`), `attach` (the client side), `logs` and `logwriter` (the
k8s-file log), `exitcommand` (what a monitor runs when its container has exited).
"""
