"""What a TFX task's log keeps: the component's own lines, every warning and error, and a closing summary.

Left alone, a Transform log is ~1,500 lines, most of them TFX echoing the schema feature by feature
("Feature fare has a shape dim {...}", multi-line protos) and Beam's INFO lines about shards and sinks.
Those are dropped below WARNING; nothing at WARNING or above is ever dropped. An INFO message of many lines
(TFX's launcher dumps every input, output and execution property as protobuf text: ~900 of a Pusher log's ~1,000
lines) keeps its first line and says how many it left out; the artifacts and ML Metadata hold the rest.
"""

from __future__ import annotations

import logging
import re

# INFO lines that repeat, per feature or per shard, what the artifacts already hold.
_NOISE = re.compile(
    r"^(Feature \S+ has (a shape|no shape)"
    r"|If the number of unique tokens is smaller than the provided"
    r"|Renamed \d+ shards in"
    r"|\*\*\* WriteImpl min_shards undef)"
)
_QUIET_BELOW_WARNING = ("apache_beam",)
MAX_INFO_LINES = 3


class DropRoutineNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.startswith(_QUIET_BELOW_WARNING):
            return False
        message = record.getMessage()
        if _NOISE.match(message):
            return False
        lines = message.splitlines()
        if len(lines) > MAX_INFO_LINES:
            record.msg, record.args = f"{lines[0]} [{len(lines) - 1} more lines of detail left out]", None
        return True


def install(handler_owner: logging.Logger | None = None) -> None:
    """Filter every handler of the root logger (absl's and the one basicConfig made)."""
    for handler in (handler_owner or logging.getLogger()).handlers:
        handler.addFilter(DropRoutineNoise())
