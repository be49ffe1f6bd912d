"""Read a subunit v2 stream (what `stestr last --subunit` prints) and print, as JSON,
{test id: {"status": ..., "error": ...}} for scripts/tempest.

Runs with the Tempest venv's python (python-subunit and testtools are there). "error" is
the first line of the exception a failed test ended with (plus the first line of tempest's
`Details:` when there is one), with ids, addresses and numbers normalised so that the same
fault in many tests is one group; for a skipped test it is the skip reason.
"""

from __future__ import annotations

import json
import re
import sys

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_HEX = re.compile(r"\b[0-9a-f]{32}\b", re.I)
_URL = re.compile(r"https?://[^/\s'\"]+")
_LONG_NUMBER = re.compile(r"(?<![\w.])\d{5,}(?![\w.])")  # ids, sizes; not status codes or microversions
_TEMPEST_NAME = re.compile(r"tempest-[\w-]+?-\d+")
_OBJECT = re.compile(r" at 0x[0-9a-f]+")
# What follows these words differs per request (dates, lengths): not part of the fault.
_CUT = (" Response headers are:",)


def normalise(text: str) -> str:
    for marker in _CUT:
        text = text.split(marker, 1)[0]
    text = _URL.sub("URL", text)
    text = _UUID.sub("<id>", text)
    text = _HEX.sub("<id>", text)
    text = _TEMPEST_NAME.sub("tempest-<name>", text)
    text = _OBJECT.sub("", text)
    text = _LONG_NUMBER.sub("N", text)
    return " ".join(text.split())[:300]


def first_error(traceback: str) -> str:
    """The exception line: the first line at column 0 after the last `  File "..."` frame
    (code lines and carets are indented), plus tempest's `Details:` line when one follows."""
    lines = traceback.splitlines()
    frames = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    start = frames[-1] + 1 if frames else 0
    rest = [line for line in lines[start:] if line.strip()]
    body = [line for line in rest if not line[:1].isspace()] or [line.strip() for line in rest]
    if not body:
        return "(no traceback)"
    message = body[0]
    details = next((line for line in body[1:4] if line.startswith("Details:")), "")
    return normalise(f"{message} {details}".strip())


def main(path: str) -> None:
    import subunit  # the Tempest venv's; the functions above need only the standard library
    import testtools

    tests: dict[str, dict[str, str]] = {}

    def on_test(test: dict) -> None:
        status = test["status"]
        if status in ("exists", "inprogress"):
            return
        details = test.get("details", {})
        text = ""
        for key in ("traceback", "reason"):
            if key in details:
                text = details[key].as_text()
                break
        error = first_error(text) if status in ("fail", "uxsuccess") else normalise(text.splitlines()[0]) if text else ""
        tests[test["id"]] = {"status": status, "error": error}

    with open(path, "rb") as stream:
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            case.run(result)
        finally:
            result.stopTestRun()
    json.dump(tests, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
