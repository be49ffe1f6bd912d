"""The JSON depth check every OpenStack request body passes before it is parsed."""

from shoal.api.openstack.call import MAX_JSON_DEPTH, too_deep


def test_nesting_is_counted_outside_strings_only():
    assert not too_deep(b'{"share": {"name": "' + b"[" * 1000 + b'"}}')
    assert not too_deep(b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')  # an escaped quote
    assert not too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert too_deep(b'{"a": ' * 100000)  # unbalanced too: refused before the parser sees it
    assert not too_deep(b"{}" * 10000)  # many, but flat
