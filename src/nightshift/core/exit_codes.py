"""One exit-code contract between the TFX interpreter's processes, the Airflow operators that start them, and the
`nightshift` command line.

    code  meaning                                                        runtime child   CLI
    0     ok                                                             yes             yes
    1     a check found a problem: validate fails its contract, a        -               yes
          monitor breach, a checksum mismatch, a run that failed (--wait)
    2     usage: the command line itself is wrong                        -               yes (argparse)
    3     the data was rejected (unreadable or malformed input,          yes             yes
          anomalies, drift, a label feed that cannot be judged)
    4     the output failed its gate                                     yes             yes
    5     a location or input is not nightshift's to use as asked        yes             yes
    6     a service is unreachable (S3, Airflow's API): one line names   -               yes
          the endpoint and the setting to check
    7     refused: the request names what does not exist or cannot be   -               yes
          done now (no such model or version, a paused DAG without --unpause)
    99    ended on purpose with nothing to publish (a skipped task)      yes             -

A data problem fails the same way on every attempt, so it fails the task at once (AirflowFailException: no
retry, the failure alert goes out now); anything else (S3 unreachable, an OOM kill, a crash) may pass on a
retry. Both interpreters import this module, so the codes cannot drift apart.
"""

from __future__ import annotations

OK = 0
DATA_REJECTED = 3  # the input is refused: anomalies, drift, unreadable or malformed input, unscorable rows
OUTPUT_REJECTED = 4  # predictions fail the output gate (row count, null/NaN/out-of-range scores)
NOT_OWNED = 5  # the output location holds what nightshift did not write, or the input changed after its gate
CHECK_FAILED = 1  # the command line's checks: validate, monitor, checksums, a followed run that failed
USAGE = 2
UNREACHABLE = 6
REFUSED = 7
NOTHING_TO_PUBLISH = 99  # ended on purpose with nothing to publish, or a node this run does not have: skipped

NO_RETRY = frozenset({DATA_REJECTED, OUTPUT_REJECTED, NOT_OWNED})

_MEANING = {
    DATA_REJECTED: "the data was rejected",
    OUTPUT_REJECTED: "the output failed its gate",
    NOT_OWNED: "a location or input is not nightshift's to use as asked",
}


def is_data_failure(code: int) -> bool:
    """True when a retry would fail the same way."""
    return code in NO_RETRY


def describe(code: int) -> str:
    if code in _MEANING:
        return f"exit {code}: {_MEANING[code]} (no retry)"
    if code < 0 or code > 128:
        signal = -code if code < 0 else code - 128
        return f"exit {code}: killed by signal {signal} (e.g. out of memory; retried)"
    return f"exit {code}: an error outside the data (retried)"
