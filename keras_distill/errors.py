"""keras_distill's errors: damaged files, stale caches, bad data, unwritable targets.

```python
try:
    cache = keras_distill.TeacherCache.load("teacher.npz", teacher=teacher, x=x_train)
except keras_distill.errors.StaleCacheError:
    cache = keras_distill.TeacherCache.compute(teacher, x_train, path="teacher.npz", overwrite=True)
```
"""

from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import ExportConversionError
from keras_distill.core.errors import InvalidDataError
from keras_distill.core.errors import KerasDistillError
from keras_distill.core.errors import StaleCacheError
from keras_distill.core.errors import TargetWriteError
from keras_distill.export.verification import ExportVerificationError

__all__ = [
    "KerasDistillError",
    "CorruptFileError",
    "StaleCacheError",
    "InvalidDataError",
    "TargetWriteError",
    "ExportConversionError",
    "ExportVerificationError",
]
