"""A module the warm-runtime tests run as `python -m warm_child ACTION [ARG]` in the server's children."""

import os
import subprocess
import sys
import time

action, *rest = sys.argv[1:]
if action == "talk":  # two lines on stdout, one on stderr, then exit with the code given
    print("out one")
    print("out two")
    print("err one", file=sys.stderr)
    sys.exit(int(rest[0]))
elif action == "env":  # the environment the child sees, one NAME per line
    for name in sorted(os.environ):
        print(name)
elif action == "proc-environ":  # what the kernel shows any reader of /proc/<pid>/environ, one NAME=VALUE a line
    with open("/proc/self/environ", "rb") as f:
        for item in f.read().split(b"\0"):
            if item:
                print(item.decode(errors="replace"))
elif action == "sleep":  # write our pid, then sleep until ended
    with open(rest[0], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
elif action == "orphan":  # leave a grandchild behind in our process group, write its pid, exit 0
    child = subprocess.Popen(["sleep", "120"])
    with open(rest[0], "w") as f:
        f.write(str(child.pid))
    print("left", child.pid)
elif action == "raise":
    raise ValueError("broken on purpose")
