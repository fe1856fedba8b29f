"""Error messages for the command line: Python keyword hints become the flags users type."""

import re

# Python spelling in library messages -> the flag that does the same.
_HINTS = (
    ("`overwrite=True`", "--overwrite"),
    ("`verify=False`", "--no-verify"),
    ('`fallback="auto"`', "--fallback auto"),
)
_KEYWORD = re.compile(r"`(teacher|dataset|preset|teaching)=(?:'([^']*)'|(\w+))`")


def as_flags(message):
    """Rewrites `message`'s keyword hints (`overwrite=True`, `teacher='mlp'`) as CLI flags."""
    message = str(message)
    for python, flag in _HINTS:
        message = message.replace(python, flag)
    return _KEYWORD.sub(lambda m: f"--{m.group(1)} {m.group(2) or m.group(3)}", message)
