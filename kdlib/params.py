"""Params files for `make reproduce PARAMS=file.yaml`: {paper: {notebook parameter: value}}, read so that nothing in
the file can become code. Only plain JSON-typed values are accepted (str, int, float, bool, None and lists and
dicts of them): YAML tags (!!binary, !!set, !!python/...) and anchors/aliases are refused, and every value must come
back from papermill's parameter cell as exactly the literal it was (checked with ast.literal_eval)."""
from __future__ import annotations

import ast
import math
from pathlib import Path

MAX_BYTES = 64 * 1024  # a params file is a few lines; anything larger is a mistake or an attack


class ParamsError(ValueError):
    """A params file that cannot be used; the message names the file and the offending key."""


def _plain(value, where: str):
    """`value` if it is plain JSON data, else ParamsError naming `where`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParamsError(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ParamsError(f"{where}: key {k!r} is not a string")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ParamsError(f"{where}: a {type(value).__name__} is not allowed (only strings, numbers, true/false, null, "
                      f"lists and mappings)")


def load(path: str | Path) -> dict:
    """The params file as plain data, or ParamsError with one line saying why not."""
    import yaml
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ParamsError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(text) > MAX_BYTES:
        raise ParamsError(f"{path}: {len(text):,} bytes; a params file is at most {MAX_BYTES:,}")
    try:
        for event in yaml.parse(text.decode("utf-8"), Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ParamsError(f"{path}: YAML anchors and aliases (&, *) are not allowed")
            tag = getattr(event, "tag", None)
            if tag and tag not in ("!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                                   "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:seq",
                                   "tag:yaml.org,2002:map"):
                raise ParamsError(f"{path}: the YAML tag {tag} is not allowed")
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping {{paper: {{parameter: value}}}}, got {type(data).__name__}")
    return _plain(data, str(path))


def check_literal(name: str, value) -> None:
    """The value papermill writes into the parameters cell must read back as exactly `value` (never as code)."""
    from papermill.translators import PythonTranslator
    code = PythonTranslator.translate(value)
    try:
        back = ast.literal_eval(code)
    except (ValueError, SyntaxError):
        back = object()
    if back != value:
        raise ParamsError(f"parameter {name!r}: its value would not be written into the notebook as a plain literal")
