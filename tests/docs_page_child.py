"""Runs one guide's code blocks on its context in a fresh process.

    python -m tests.docs_page_child PAGE

For pages whose code must not share a process with other tests (a
`MirroredStrategy` fit leaves TensorFlow's collective keys behind).
"""

import sys

from tests import docs_context
from tests import test_docs

page = sys.argv[1]
test_docs.run_blocks(page, docs_context.context(page))
print(f"ran every block of {page}")
