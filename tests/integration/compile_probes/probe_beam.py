"""Prints each Beam-based node's beam_pipeline_args from the compiled IR, as one JSON line."""

import json
import sys
from pathlib import Path

from nightshift_tfx.runner import load_ir
from tfx.orchestration.local import runner_utils
from tfx.proto.orchestration import executable_spec_pb2

ir = load_ir(Path(sys.argv[1]))
deployment = runner_utils.extract_local_deployment_config(ir)
out = {}
for node in ir.nodes:
    node_id = node.pipeline_node.node_info.id
    spec = runner_utils.extract_executor_spec(deployment, node_id)
    if isinstance(spec, executable_spec_pb2.BeamExecutableSpec):
        out[node_id] = list(spec.beam_pipeline_args)
print("JSON:" + json.dumps(out))
