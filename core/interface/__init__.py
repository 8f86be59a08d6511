"""The plugin interface: what a runtime plugin implements and is given.

`runtime` (the `Runtime` base class, `RuntimeContext`, `Layout`), `options` (the typed values
passed to and returned from a Runtime), `capabilities`, `probes`, `specview` (a typed view of a
bundle's config.json) and `hookspec` (the hook plugins' specifications). The names most
plugins need are also exported by `ocimux` itself (`from ocimux import Runtime`).
"""
