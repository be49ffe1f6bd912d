"""Dataset creation options of the zfs driver (shoal.drivers.zfs.options).

Configured `creation_options` merged with what a share type's extra specs ask
for; pure functions, no zfs is run.
"""

from __future__ import annotations

import logging

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.zfs import options as zo

# ---- configured options --------------------------------------------------------------------


def test_split_option_strips_around_the_equals():
    assert zo.split_option(" compression = lz4 ") == ("compression", "lz4")


def test_split_option_keeps_later_equals_in_the_value():
    assert zo.split_option("org.example:note=a=b") == ("org.example:note", "a=b")


@pytest.mark.parametrize("option", ["compression", "=lz4", "compression=", " = ", ""])
def test_split_option_refuses_non_key_value(option):
    with pytest.raises(ValueError, match="KEY=VALUE"):
        zo.split_option(option)


def test_configured_options_refuses_a_malformed_entry():
    with pytest.raises(ValueError, match="atime"):
        zo.configured_options(["compression=lz4", "atime"])


def test_configured_options_keeps_ordinary_options():
    assert zo.configured_options(["compression=lz4", "atime=off"]) == {"compression": "lz4", "atime": "off"}


@pytest.mark.parametrize("key", zo.RESERVED)
def test_reserved_option_is_dropped_with_a_warning(key, caplog):
    caplog.set_level(logging.WARNING, logger=zo.log.name)
    result = zo.configured_options([f"{key}=something", "atime=off"])
    assert result == {"atime": "off"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert key in warnings[0].getMessage()


def test_no_warning_for_ordinary_options(caplog):
    caplog.set_level(logging.WARNING, logger=zo.log.name)
    zo.configured_options(["atime=off"])
    assert not caplog.records


# ---- spec_bool -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["<is> True", "<is> true", "True", "true", " yes ", "on", "1"])
def test_spec_bool_true(value):
    assert zo.spec_bool(value) is True


@pytest.mark.parametrize("value", ["<is> False", "False", "false", "no", "off", "0"])
def test_spec_bool_false(value):
    assert zo.spec_bool(value) is False


@pytest.mark.parametrize("value", ["garbage", "", "   ", "<is>", "<is> maybe", "2"])
def test_spec_bool_garbage(value):
    with pytest.raises(InvalidRequest):
        zo.spec_bool(value)


# ---- capabilities --------------------------------------------------------------------------


def test_capabilities_unconstrained():
    assert zo.capabilities({}) == {"dedupe": [True, False], "compression": [True, False]}


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ({"dedup": "on"}, {"dedupe": [True], "compression": [True, False]}),
        ({"dedup": "off"}, {"dedupe": [False], "compression": [True, False]}),
        ({"compression": "off"}, {"dedupe": [True, False], "compression": [False]}),
        ({"compression": "lz4"}, {"dedupe": [True, False], "compression": [True]}),
        ({"compression": "on", "dedup": "on"}, {"dedupe": [True], "compression": [True]}),
    ],
)
def test_capabilities_follow_configured_options(configured, expected):
    assert zo.capabilities(configured) == expected


# ---- from_extra_specs ----------------------------------------------------------------------


def test_no_specs_no_properties():
    assert zo.from_extra_specs({"share_backend_name": "zfs"}, {}) == {}


@pytest.mark.parametrize(("value", "dedup"), [("<is> True", "on"), ("<is> False", "off"), ("False", "off")])
def test_dedupe_spec_sets_dedup(value, dedup):
    assert zo.from_extra_specs({"dedupe": value}, {}) == {"dedup": dedup}


def test_dedupe_spec_matching_configured_option_is_allowed():
    assert zo.from_extra_specs({"dedupe": "<is> True"}, {"dedup": "on"}) == {"dedup": "on"}


@pytest.mark.parametrize(("value", "configured"), [("<is> True", "off"), ("<is> False", "on")])
def test_dedupe_spec_refused_when_configuration_fixes_the_opposite(value, configured):
    with pytest.raises(InvalidRequest, match="dedupe"):
        zo.from_extra_specs({"dedupe": value}, {"dedup": configured})


def test_dedupe_spec_garbage_refused():
    with pytest.raises(InvalidRequest):
        zo.from_extra_specs({"dedupe": "sometimes"}, {})


@pytest.mark.parametrize("value", ["lz4", "gzip-9", "zle", "off", "on"])
def test_compression_spec_allowed(value):
    assert zo.from_extra_specs({"zfsonlinux:compression": value}, {}) == {"compression": value}


def test_compression_spec_value_is_stripped():
    assert zo.from_extra_specs({"zfsonlinux:compression": " lz4 "}, {}) == {"compression": "lz4"}


def test_compression_spec_refused_when_configuration_turns_it_off():
    with pytest.raises(InvalidRequest, match="compression"):
        zo.from_extra_specs({"zfsonlinux:compression": "lz4"}, {"compression": "off"})


def test_compression_off_refused_when_configuration_turns_it_on():
    with pytest.raises(InvalidRequest, match="compression"):
        zo.from_extra_specs({"zfsonlinux:compression": "off"}, {"compression": "lz4"})


def test_compression_spec_other_algorithm_allowed_when_configured_on():
    # configuration fixes "compressed", not which algorithm
    assert zo.from_extra_specs({"zfsonlinux:compression": "gzip"}, {"compression": "lz4"}) == {"compression": "gzip"}


@pytest.mark.parametrize(
    "value", ["lz4;rm -rf /", "lz4 -o mountpoint=/", "$(reboot)", "lz4`id`", "a|b", "lz4\nx", "a=b", "", "  "]
)
def test_compression_spec_with_metacharacters_refused(value):
    with pytest.raises(InvalidRequest, match="invalid"):
        zo.from_extra_specs({"zfsonlinux:compression": value}, {})


def test_both_specs_together():
    props = zo.from_extra_specs({"dedupe": "<is> True", "zfsonlinux:compression": "lz4"}, {})
    assert props == {"dedup": "on", "compression": "lz4"}


# ---- dataset_properties --------------------------------------------------------------------


def test_dataset_properties_refquota_first_readonly_off():
    props = zo.dataset_properties(5, {"zfsonlinux:compression": "lz4"}, {"atime": "off"})
    keys = list(props)
    assert keys[0] == "refquota"
    assert props["refquota"] == "5G"
    assert props["atime"] == "off"
    assert props["compression"] == "lz4"
    assert props["readonly"] == "off"
    assert "quota" not in props


def test_dataset_properties_share_type_overrides_configured_option():
    props = zo.dataset_properties(1, {"dedupe": "<is> True"}, {"dedup": "on", "atime": "off"})
    assert props == {"refquota": "1G", "dedup": "on", "atime": "off", "readonly": "off"}


def test_dataset_properties_readonly_always_off():
    # even when a caller hands in unfiltered options
    props = zo.dataset_properties(1, {}, {"readonly": "on"})
    assert props["readonly"] == "off"


def test_dataset_properties_propagates_refusal():
    with pytest.raises(InvalidRequest):
        zo.dataset_properties(1, {"dedupe": "<is> True"}, {"dedup": "off"})
