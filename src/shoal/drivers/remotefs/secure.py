"""Secure NAS file operations and permissions (Cinder's nas_secure_file_* options,
reference §2.1).

Each option is `true`, `false` or `auto`. `auto` resolves as Cinder resolves it,
so that Cinder and Shoal agree on the same share: `true` when the indicator
file `.cinderSecureEnvIndicator` is in the first share; else, on a new install,
`true` and the indicator is written (falling back to `false` if it cannot be);
else `false`. Cinder asks its database whether the install is new; the driver
has no database, so a new install here is a first share that holds no volume
file yet.

Secure permissions: volume files are `chmod 660` (owner and group only) instead
of `ugo+rw`. Secure operations: Cinder then runs its commands as the cinder
user instead of root; in Shoal the host's `sudo` setting decides that, and
what remains is Cinder's refusal of snapshots with secure operations set to
`true` explicitly.
"""

from __future__ import annotations

INDICATOR = ".cinderSecureEnvIndicator"
INDICATOR_MODE = 0o640
INDICATOR_TEXT = "Cinder secure environment indicator file.\n"


def decide(setting: str, indicator_present: bool, new_install: bool) -> tuple[bool, bool]:
    """(secure, write the indicator now) for one option's setting."""
    if setting != "auto":
        return setting == "true", False
    if indicator_present:
        return True, False
    if new_install:
        return True, True
    return False, False


def file_mode(secure_permissions: bool) -> int:
    """The permission bits of every file of a volume: Cinder's 660 when secure,
    else its `ugo+rw` (set absolute: the images and sidecars Shoal makes have no
    other bits)."""
    return 0o660 if secure_permissions else 0o666
