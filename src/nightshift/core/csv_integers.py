"""How an integer column is read from CSV text, the same in every reader: an integer written as an integer
(`17031081000`) or as a whole-valued float (`17031081000.0`, what pandas writes for an integer column with a
missing value) is that integer, exactly (beyond 2**53 too: the text is cut, never parsed as a float); any
other text (`23.5`, `1e3`, `abc`) is refused, naming the file, column, line and value.

Two forms of the rule: `int_column` on the text (the scorer, which reads with Arrow), and `whole_floats` on
what pandas parsed (the gates and `validate`, which read with pandas: re-reading those columns as text cost
1.75x the whole read on 1.5M taxi rows). They agree except on a fraction written beyond 2**53, where no float
holds a fraction: the gates accept it as a whole number, the scorer refuses it."""

from __future__ import annotations

import re
from typing import Any

from nightshift.core.errors import NightshiftError

WHOLE_NUMBER = r"^\s*[+-]?[0-9]+(\.0*)?\s*$"
_FRACTION_ZEROS = r"\.0*\s*$"


class NotAnInteger(NightshiftError):
    """An integer column holds a value that is not a whole number."""


def parse_int_text(text: str) -> int:
    """One value, by the rule above (ValueError otherwise)."""
    if not re.match(WHOLE_NUMBER, text):
        raise ValueError(f"{text!r} is not a whole number")
    return int(re.sub(_FRACTION_ZEROS, "", text.strip()))


def int_column(strings: Any, *, where: str, column: str, first_line: int) -> Any:
    """A pyarrow string array of one CSV column as int64 by the rule above; nulls stay null.

    `first_line`: the file line of the array's first value (header = line 1), for the error message."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ok = pc.match_substring_regex(strings, WHOLE_NUMBER)
    bad = pc.and_(pc.is_valid(strings), pc.invert(ok))
    if pc.any(bad).as_py():
        index = pc.index(bad, True).as_py()
        value = strings[index].as_py()
        raise NotAnInteger(f"{where}: column {column!r}, line {first_line + index}: {value!r} is not a whole number "
                           "(the model reads this column as integers)")
    cut = pc.replace_substring_regex(pc.utf8_trim_whitespace(strings), _FRACTION_ZEROS, "")
    return pc.cast(cut, pa.int64())


def whole_floats(values: Any, *, where: str, column: str, first_line: int) -> Any:
    """A pandas float64 Series parsed from an integer column, as Int64 (exact: pandas parses "17031081000.0" to
    that float exactly); NotAnInteger naming the first value that is not a whole number."""
    import numpy as np

    array = values.to_numpy()
    bad = ~np.isnan(array) & ((np.floor(array) != array) | np.isinf(array))
    if bad.any():
        index = int(np.argmax(bad))
        raise NotAnInteger(f"{where}: column {column!r}, line {first_line + index}: {str(float(array[index]))!r} "
                           "is not a whole number (the contract reads this column as integers)")
    return values.astype("Int64")
