"""Example ocimux hook plugins: `policy` (sandbox untrusted containers) and `audit` (JSON lines)."""
