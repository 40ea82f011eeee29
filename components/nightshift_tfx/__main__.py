"""Runtime entry point: `python -m nightshift_tfx compile|node|local --run-dir DIR [--node ID]`.

`local` runs the whole pipeline in this one process with TFX's LocalDagRunner (debugging, benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift_tfx")
    parser.add_argument("command", choices=["compile", "node", "local"])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--node")
    args = parser.parse_args(argv)

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout, force=True)
    from nightshift_tfx import task_log

    task_log.install()
    from nightshift.core.run_config import RunConfig
    from nightshift_tfx import runner

    run = RunConfig.read(args.run_dir)
    if args.command == "compile":
        runner.compile_run(run)
        return 0
    if args.command == "local":
        runner.run_local(run)
        return 0
    if not args.node:
        parser.error("node needs --node")
    from nightshift.core import exit_codes
    from nightshift.core.errors import DataRejected

    try:
        return runner.run_node(run, args.node)
    except DataRejected as exc:
        logging.getLogger("nightshift_tfx").error("%s", exc)
        return exit_codes.DATA_REJECTED


if __name__ == "__main__":
    sys.exit(main())
