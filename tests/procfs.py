"""Reading /proc about processes a test started (shared by the e2e and security tests)."""

from __future__ import annotations


class ProcFs:
    """What the kernel says about processes a stack started: their descendants, command lines and the TCP
    sockets they listen on (read from /proc, so nothing a process reports about itself is trusted)."""

    @staticmethod
    def tree(roots: list[int]) -> set[int]:
        from pathlib import Path

        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        found = {p for p in roots if p in parents}
        grew = True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in found} - found
            found |= more
            grew = bool(more)
        return found

    @staticmethod
    def cmdline(pid: int) -> str:
        from pathlib import Path

        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def listening(pids: set[int]) -> list[tuple[int, str, int]]:
        """(pid, local address, port) of every TCP socket in LISTEN state owned by one of `pids`."""
        import ipaddress
        import os
        from pathlib import Path

        owner: dict[str, int] = {}
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    link = os.readlink(fd)
                    if link.startswith("socket:["):
                        owner[link[8:-1]] = pid
            except OSError:
                continue
        found = []
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] != "0A" or cols[9] not in owner:  # 0A = LISTEN
                    continue
                hex_addr, hex_port = cols[1].split(":")
                raw = bytes.fromhex(hex_addr)
                # /proc/net prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((owner[cols[9]], str(ipaddress.ip_address(raw)), int(hex_port, 16)))
        return found

    @staticmethod
    def environ(pid: int) -> dict[str, str]:
        """The environment block the kernel shows for `pid` (what any process of its user can read)."""
        from pathlib import Path

        raw = Path(f"/proc/{pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)

    @staticmethod
    def netns(pid: int) -> str:
        import os

        return os.readlink(f"/proc/{pid}/ns/net")
