"""The engine: the only place that knows containers.

`dispatcher` (the `Dispatcher`: every verb), `reconcile` (records reconciled with their
runtimes: lookup, lock, state, capabilities), `execs` (exec sessions), `store` and `_locks`
(SQLite and per-container locks), `registry` (runtime plugins by entry point), `hooks`,
`session` (`open_dispatcher`: the wiring through the warm-path cache), `images`, `repair`.
"""
