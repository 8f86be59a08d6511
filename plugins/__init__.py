"""Built-in runtime plugins; each is found through the `ocimux.runtimes` entry points."""
