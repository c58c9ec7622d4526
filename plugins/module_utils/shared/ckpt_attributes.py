# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A checkpoint's creation attributes: the one rule the checkpoint service applies to a create
and ``ckpt_wait`` applies in check mode, where it must answer as the real open would.

The rule. Every attribute is a non-negative integer; max_sections and max_section_id_size are
at least 1; and the service's own ceilings below (TOO_BIG beyond them). Nothing relates
max_section_size to checkpoint_size: a section larger than checkpoint_size simply cannot be
filled (writes answer NO_SPACE when the checkpoint's total would pass checkpoint_size), as with
openais, which accepts testckpt.c's checkpoint_size 100000 with max_section_size 200000. openais
(lib/ckpt.c) also refuses checkpoint_size > max_sections * max_section_size; this service
accepts that too (the extra size can never be used), so attributes it accepted before stay valid.

Stdlib only: used by the modules and by the node programs.
"""

from __future__ import annotations

from typing import Any

from .ais_errors import AisError

# The service's own ceilings on creation attributes.
MAX_CHECKPOINT_SIZE = 64 * 1024 * 1024
MAX_SECTION_SIZE = 1024 * 1024
MAX_SECTIONS = 65536
MAX_SECTION_ID_SIZE = 256
ATTRIBUTE_KEYS = (
    "creation_flags",
    "checkpoint_size",
    "retention_duration",
    "max_sections",
    "max_section_size",
    "max_section_id_size",
)


def validate_attributes(attrs: Any) -> tuple[AisError, str, dict]:
    """Check creation attributes; returns (OK, "", normalised) or (error, why, {})."""
    if not isinstance(attrs, dict):
        return AisError.INVALID_PARAM, "creation attributes must be a mapping", {}
    unknown = sorted(set(attrs) - set(ATTRIBUTE_KEYS))
    if unknown:
        return AisError.INVALID_PARAM, f"unknown creation attributes {unknown}", {}
    norm = {
        "creation_flags": attrs.get("creation_flags", 0),
        "checkpoint_size": attrs.get("checkpoint_size", 0),
        "retention_duration": attrs.get("retention_duration", 0),
        "max_sections": attrs.get("max_sections", 1),
        "max_section_size": attrs.get("max_section_size", 0),
        "max_section_id_size": attrs.get("max_section_id_size", 64),
    }
    for key, value in norm.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return AisError.INVALID_PARAM, f"{key} must be a non-negative integer", {}
    if norm["max_sections"] < 1 or norm["max_section_id_size"] < 1:
        return AisError.INVALID_PARAM, "max_sections and max_section_id_size must be at least 1", {}
    if norm["checkpoint_size"] > MAX_CHECKPOINT_SIZE or norm["max_section_size"] > MAX_SECTION_SIZE:
        why = f"checkpoint_size is limited to {MAX_CHECKPOINT_SIZE} and max_section_size to {MAX_SECTION_SIZE} bytes"
        return AisError.TOO_BIG, why, {}
    if norm["max_sections"] > MAX_SECTIONS or norm["max_section_id_size"] > MAX_SECTION_ID_SIZE:
        why = f"max_sections is limited to {MAX_SECTIONS} and max_section_id_size to {MAX_SECTION_ID_SIZE}"
        return AisError.TOO_BIG, why, {}
    return AisError.OK, "", norm
