"""The command line a results file names, with paths relative to the repository.

A path inside the repository is written relative to its root; one outside it
(a data file, a scratch folder) as `PATH/<name>`, since it is this machine's
own folder.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def portable(argument):
    """`argument` with an absolute path (alone or after `--flag=`) made portable."""
    flag, equals, value = argument.rpartition("=") if argument.startswith("--") else ("", "", argument)
    if not os.path.isabs(value):
        return argument
    path = os.path.normpath(value)
    if path == ROOT or path.startswith(ROOT + os.sep):
        value = os.path.relpath(path, ROOT)
    else:
        value = "PATH/" + os.path.basename(path)
    return flag + equals + value


def command(script, argv=None):
    """`python <script> <arguments>`, the arguments being `sys.argv[1:]` by default."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python", script] + [portable(a) for a in argv])
