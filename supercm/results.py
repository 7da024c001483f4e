"""Results records: one JSON file per run, written atomically."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    the previous file in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, record: dict) -> Path:
    """Write a results record as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False, default=_jsonable)
    return write_atomic(path, text.encode())


def read_json(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a results record")


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    import numpy
    import sklearn
    import torch

    from . import __version__

    return {
        "python": platform.python_version(),
        "supercm": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }
