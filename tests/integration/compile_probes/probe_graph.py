"""Prints the compiled IR's node graph (node id -> sorted upstream ids) and its run id, as one JSON line."""

import json
import sys
from pathlib import Path

from nightshift_tfx.runner import load_ir

ir = load_ir(Path(sys.argv[1]))
graph = {n.pipeline_node.node_info.id: sorted(n.pipeline_node.upstream_nodes) for n in ir.nodes}
print("JSON:" + json.dumps(graph | {"__run_id__": [ir.runtime_spec.pipeline_run_id.field_value.string_value]}))
