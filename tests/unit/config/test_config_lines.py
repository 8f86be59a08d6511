"""Finding the line of a key in TOML text, for error messages."""

from __future__ import annotations

from ocimux.config.lines import find_line, key_lines

TEXT = '''\
# comment [engine]
top = 1

[engine]
runtime = "crun"
runtimes_flags = { crun = ["debug"] }
"quoted key" = 2
dotted.key = 3
conmon_path = [
  "/a",
  [1],
]
text = """
[ocimux]
stop_timeout = 1
"""
lit = \'\'\'
[x]
\'\'\'
stop_timeout = 10   # trailing comment

[ engine . runtimes ]
crun = ["/usr/bin/crun"]
'with.dot' = []

[[farms.list]]
name = "a"

[ocimux.capabilities."my runtime"]
checkpoint = true
'''


def test_plain_keys_and_headers() -> None:
    assert find_line(TEXT, ("top",)) == 2
    assert find_line(TEXT, ("engine",)) == 4
    assert find_line(TEXT, ("engine", "runtime")) == 5
    assert find_line(TEXT, ("engine", "stop_timeout")) == 20


def test_inside_multiline_values_nothing_is_a_key() -> None:
    lines = key_lines(TEXT)
    assert lines[("ocimux",)] == 29  # implied by the header there, not the string's text
    assert ("x",) not in lines
    assert ("ocimux", "stop_timeout") not in lines
    assert ("1",) not in lines


def test_quoted_dotted_and_spaced_keys() -> None:
    assert find_line(TEXT, ("engine", "quoted key")) == 7
    assert find_line(TEXT, ("engine", "dotted", "key")) == 8
    assert find_line(TEXT, ("engine", "runtimes", "crun", 0)) == 23
    assert find_line(TEXT, ("engine", "runtimes", "with.dot")) == 24
    assert find_line(TEXT, ("ocimux", "capabilities", "my runtime", "checkpoint")) == 30


def test_inline_tables_and_arrays_fall_back_to_their_key() -> None:
    assert find_line(TEXT, ("engine", "runtimes_flags", "crun", 0)) == 6
    assert find_line(TEXT, ("engine", "conmon_path", 1)) == 9


def test_array_of_tables_and_longest_prefix() -> None:
    assert find_line(TEXT, ("farms", "list", 0, "name")) == 27
    assert find_line(TEXT, ("engine", "nonexistent")) == 4
    assert find_line(TEXT, ("nowhere",)) is None
    assert find_line("", ("engine",)) is None


def test_prefixes_of_headers_and_dotted_keys() -> None:
    lines = key_lines("[a.b.c]\nx.y.z = 1\n[a]\n")
    assert lines[("a",)] == 1 and lines[("a", "b")] == 1
    assert lines[("a", "b", "c", "x")] == 2 and lines[("a", "b", "c", "x", "y", "z")] == 2


def test_garbage_never_raises() -> None:
    for text in ['["unterminated', "[a.'b]", '"k\\', "= 1", "a . = 1", "[[x]", "a = '''"]:
        key_lines(text)
