"""CPU seconds per test, for finding the tests too slow for the quick command.

On a shared machine wall times move with the load; the CPU time a test uses
(user + system, of the pytest process and of the child processes it waited
for, over setup, call and teardown) does not. On two idle cores a test's wall
time is about its CPU time (TensorFlow keeps both cores busy only in part).

Run it as a pytest plugin, one test file per process or several:

```
python -m pytest -q -m "not slow" -p benchmarks.cpu_time_per_test tests/test_docs.py
```

Each test appends a row `node id, own CPU s, children's CPU s, wall s` to the
file named by `CPU_TIME_OUT` (default `cpu_time_per_test.tsv`); `python
benchmarks/cpu_time_per_test.py FILE.tsv` prints them as a Markdown table,
slowest first.
"""

import os
import resource
import sys
import time

import pytest

_rows = []


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    own_before, children_before = _cpu_seconds()
    start = time.perf_counter()
    yield
    own_after, children_after = _cpu_seconds()
    _rows.append((
        item.nodeid, own_after - own_before, children_after - children_before,
        time.perf_counter() - start,
    ))


def pytest_sessionfinish(session):
    with open(os.environ.get("CPU_TIME_OUT", "cpu_time_per_test.tsv"), "a") as f:
        for node_id, own, children, wall in _rows:
            f.write(f"{node_id}\t{own:.1f}\t{children:.1f}\t{wall:.1f}\n")


def main(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    rows.sort(key=lambda row: -(float(row[1]) + float(row[2])))
    print("| test | CPU s (own + children) | wall s (shared machine) |")
    print("|---|---|---|")
    for node_id, own, children, wall in rows:
        print(f"| `{node_id}` | {float(own) + float(children):.1f} | {wall} |")


if __name__ == "__main__":
    main(sys.argv[1])
