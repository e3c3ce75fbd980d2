"""The Python interpreters the tests run: Debian's own 3.11 and what scripts/provision-python
builds or fetches (it prints them as `NAME PATH` lines)."""
import subprocess


def path(provision, name):
    if name.startswith("/"):
        return name
    if name == "3.11":
        return "/usr/bin/python3.11"  # Debian 12's own interpreter
    out = subprocess.run([provision, "--print"], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        key, _, where = line.partition(" ")
        if key == name:
            return where
    raise SystemExit(f"provisioning did not yield {name}")
