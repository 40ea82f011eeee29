"""Prints the MLMD MySQL password as the IR holds it and as the node process fills it in, as one JSON line."""

import json
import sys
from pathlib import Path

from nightshift_tfx.runner import load_ir, with_password
from tfx.orchestration.local import runner_utils

from nightshift.core.run_config import RunConfig

ir = load_ir(Path(sys.argv[1]))
config = runner_utils.extract_local_deployment_config(ir).metadata_connection_config
connection = getattr(config, config.WhichOneof("connection_config"))
filled = with_password(connection, RunConfig.read(Path(sys.argv[1]).parent))
print("JSON:" + json.dumps({"in_ir": connection.mysql.password, "user": connection.mysql.user,
                            "filled": filled.mysql.password}))
