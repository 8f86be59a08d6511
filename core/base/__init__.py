"""Leaf building blocks: errors, processes, files, sockets, ids, signals, the monitor's files.

Nothing here imports another ocimux layer. Public modules (no leading underscore) are for
plugins too: `ocimux.base.process`, `.files`, `.sockets`, `.command`, `.errors`, `.ids`,
`.monitorfiles`.
"""
