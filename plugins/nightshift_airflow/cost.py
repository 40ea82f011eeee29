"""What a task cost: wall time, CPU seconds and peak RSS of its own process and of the processes it ran.

Every nightshift operator records this when it succeeds, as the XCom `cost` of its task instance, and logs
it as its last line. A TFX task's own process only waits: the work is in the warm runtime's child (whose
figures the runtime measures with wait4) or, cold, in a subprocess (RUSAGE_CHILDREN covers it). Peak RSS
is the larger of this process and its heaviest child, not a sum.
"""

from __future__ import annotations

import resource
import time
from typing import Any

COST_KEY = "cost"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class RecordsCost:
    """Mixin for a BaseOperator: pre_execute starts the clock, post_execute pushes the `cost` XCom."""

    def pre_execute(self, context: Any) -> None:
        self._cost_started = (time.monotonic(), _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN))
        super().pre_execute(context)  # type: ignore[misc]

    def runtime_child(self) -> Any:
        """The warm runtime's measurements of the child this task ran (ChildResult), if it ran one."""
        hook = self.__dict__.get("hook")  # only if execute built it
        return getattr(hook, "last_result", None)

    def post_execute(self, context: Any, result: Any = None) -> None:
        started, cpu_before = getattr(self, "_cost_started", (time.monotonic(), 0.0))
        cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu_before
        peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        child = self.runtime_child()
        if child is not None:
            cpu += child.cpu_s
            peak_kb = max(peak_kb, child.max_rss_kb)
        cost = {"wall_s": round(time.monotonic() - started, 3), "cpu_s": round(cpu, 3), "peak_rss_kb": int(peak_kb),
                "runtime_child": child.as_dict() if child is not None else None}
        context["ti"].xcom_push(key=COST_KEY, value=cost)
        self.log.info("task cost: wall %.1f s, cpu %.1f s, peak RSS %.0f MiB%s",  # type: ignore[attr-defined]
                      cost["wall_s"], cost["cpu_s"], peak_kb / 1024,
                      " (with the TFX runtime's child)" if child is not None else "")
        super().post_execute(context, result)  # type: ignore[misc]
