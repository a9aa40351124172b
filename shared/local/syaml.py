"""Rendering a Serverless Devs deployment file the way the `s` CLI renders it.

Two editions, two engines, both re-implemented here for the subset rolepact's files use and
checked against the real CLIs by tests/deploy/test_cli_render.py:

- `edition: 1.0.0` (s.yaml, component `fc`): the 2.x core (Serverless-Devs/core 0.1.66,
  `src/common/execCommand/parse.ts`), which s 2.x runs and s 3.x hands 1.0.0 files to.
  It knows `${env(NAME)}`, `${env.NAME}` and `${<flat key>}` (`vars.a.b`, `<service>.props.x`)
  — **no defaults** — renders only `services`, in two passes (the second resolves what the
  first copied out of `vars`), and leaves anything it cannot resolve as literal `${…}` text.
- `edition: 3.0.0` (deploy/fc3/s.yaml, component `fc3`): the 3.x engine (@serverless-devs/
  parse-spec and art-template's `devs-compile`). `${env('NAME')}` fails when NAME is unset or
  empty, `${vars.a.b}` fails when missing; `template` + `extend` share props.

The CLI passes unresolved `${…}` through (1.0.0) or stops (3.0.0); rolepact never deploys or
plays a file with `${…}` left anywhere: `render` raises `SyamlError` naming every place.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

EDITIONS = ("1.0.0", "3.0.0")
_EXPR = re.compile(r"\$\{(.*?)\}")  # core 0.1.66 COMMON_VARIABLE_TYPE_REG
_FUN = re.compile(r"(.*)\((.*)\)", re.IGNORECASE)  # core 0.1.66 SPECIALL_VARIABLE_TYPE_REG
_V3_EXPR = re.compile(r"\$\{([\s\S]*?)\}")  # devs-compile REGX
_V3_ENV = re.compile(r"""^env\(\s*(['"])([^'"]*)\1\s*(?:,\s*(['"])([^'"]*)\3\s*)?\)$""")
_V3_PATH = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")


class SyamlError(ValueError):
    """The file is not something rolepact can deploy or play: unresolved or unsupported `${…}`."""


def read(path: str | Path) -> dict:
    """The document, with an `extend: <base file>` override merged the way each edition's CLI does."""
    path = Path(path)
    document = yaml.safe_load(path.read_text("utf-8"))
    if not isinstance(document, dict):
        raise SyamlError(f"{path}: not a YAML mapping")
    if not document.get("extend"):
        return document
    if not isinstance(document["extend"], str):
        raise SyamlError(f"{path}: extend must name one base file")
    base = read(path.parent / document["extend"])
    override = {key: value for key, value in document.items() if key not in ("extend", "extends")}
    if str(override.get("edition", base.get("edition"))) == "3.0.0":
        # parse-spec doExtend: everything but `resources` is merged; the base's resources are rendered with it
        rest = _extend2({}, {k: v for k, v in base.items() if k != "resources"},
                        {k: v for k, v in override.items() if k != "resources"})
        if override.get("resources"):
            raise SyamlError(f"{path}: an override with its own resources is not supported here")
        return {**base, **rest}
    # core 0.1.66 extendsYaml: the override's vars go into the base first, each side passes parseYaml
    merged = _parse_yaml(_extend2(copy.deepcopy(base), {"vars": override.get("vars") or {}}))
    return _extend2(merged, _parse_yaml(_extend2({"vars": merged.get("vars")}, override)))


def render(path: str | Path, environ: Mapping[str, str]) -> dict:
    """The whole document as `s deploy` hands it to the components (props resolved)."""
    document = read(path)
    edition = str(document.get("edition"))
    if edition == "1.0.0":
        rendered = render_core1(document, environ)
        key = "services"
    elif edition == "3.0.0":
        rendered = render_core3(document, environ)
        key = "resources"
    else:
        raise SyamlError(f"{path}: edition {edition!r}; rolepact reads {' and '.join(EDITIONS)}")
    places: dict[str, list[str]] = {}
    for where, text in unresolved(rendered.get(key) or {}, key):
        for expression in re.findall(r"\$\{[^}]*\}?", text):
            places.setdefault(expression, []).append(where)
    if places:
        raise SyamlError(f"{path}: left unresolved (export the variable, or set the value in vars):\n" + "\n".join(
            f"  {expression} in {len(where)} place(s), e.g. {where[0]}" for expression, where in places.items()))
    return rendered


def dotenv(path: str | Path) -> dict[str, str]:
    """`KEY=VALUE` lines of the `.env` beside a deployment file, which both CLIs load with the
    dotenv package before rendering (an exported variable wins over the file)."""
    file = Path(path).parent / ".env"
    values = {}
    if file.is_file():
        for line in file.read_text("utf-8").splitlines():
            match = re.match(r"^\s*(?:export\s+)?([\w.-]+)\s*=\s*(.*?)\s*$", line)
            if match and not line.lstrip().startswith("#"):
                value = match.group(2)
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                elif " #" in value:
                    value = value.split(" #", 1)[0].rstrip()
                values[match.group(1)] = value
    return values


def unresolved(node, where: str = "") -> list[tuple[str, str]]:
    """Every string under `node` that still holds `${`, with its path."""
    if isinstance(node, dict):
        return [hit for key, value in node.items() for hit in unresolved(value, f"{where}.{key}" if where else key)]
    if isinstance(node, list):
        return [hit for i, value in enumerate(node) for hit in unresolved(value, f"{where}[{i}]")]
    return [(where, node)] if isinstance(node, str) and "${" in node else []


def js_string(value) -> str:
    """`String(value)` in JavaScript, for the scalar types YAML gives."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


# ------------------------------------------------------------------------------ edition 1.0.0
def render_core1(document: dict, environ: Mapping[str, str]) -> dict:
    """Serverless-Devs/core 0.1.66 `Parse.init` run twice (execCommand/index.ts)."""
    keys: dict = {}
    first = copy.deepcopy(document)
    _flatten(first, "", keys)
    first["services"] = {name: _core1_value(entry, keys, environ)
                         for name, entry in (first.get("services") or {}).items()}
    second = copy.deepcopy(first)
    _flatten(second, "", keys)  # the key map accumulates across passes, as in the core
    second["services"] = {name: _core1_value(entry, keys, environ)
                          for name, entry in (second.get("services") or {}).items()}
    return second


def _parse_yaml(document: dict) -> dict:
    """core 0.1.66 parseYaml (run on files that extend another): every `${path}` naming a key of
    the document itself (lodash `get`) is replaced once, before the usual two passes."""
    def lookup(path: str):
        value = document
        for part in re.findall(r"[^.\[\]]+", path):
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    def walk(node):
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, str) or not node:
            return node
        result = node
        for match in _EXPR.finditer(node):
            found = lookup(match.group(1))
            found = match.group(0) if found is None else found
            if isinstance(found, str):
                result = _js_replace_first(result, match.group(0), found) if isinstance(result, str) else result
            else:
                result = copy.deepcopy(found)
        return result

    return walk(document)


def _flatten(value, parent: str, keys: dict) -> None:
    """`generateMagicVariables`: `a.b` for maps, `a[0]` for lists (no dot before `[`)."""
    if isinstance(value, dict):
        prefix = f"{parent}." if parent else ""
        for key, item in value.items():
            keys[f"{prefix}{key}"] = item
            _flatten(item, f"{prefix}{key}", keys)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            keys[f"{parent}[{i}]"] = item
            _flatten(item, f"{parent}[{i}]", keys)


def _core1_value(value, keys: dict, environ: Mapping[str, str]):
    """`iteratorToSetValue`; a null leaf becomes undefined, i.e. the key disappears."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        rendered = {key: _core1_value(item, keys, environ) for key, item in value.items()}
        return {key: item for key, item in rendered.items() if item is not None}
    if isinstance(value, list):
        return [_core1_value(item, keys, environ) for item in value]
    if not isinstance(value, str):
        return None
    result = value
    for match in _EXPR.finditer(value):
        found = _core1_lookup(match.group(1), keys, environ)
        if found is None:
            continue  # left as literal text
        if isinstance(result, str) and isinstance(found, str):
            result = _js_replace_first(result, match.group(0), found)
        elif not isinstance(found, str):
            result = copy.deepcopy(found)  # a non-string value replaces the whole string
        else:
            raise SyamlError(f"{value!r}: a string expression after an object one is not supported")
    return result


def _core1_lookup(name: str, keys: dict, environ: Mapping[str, str]):
    if name.startswith("env."):
        return environ.get(name[len("env."):])
    function = _FUN.match(name)
    if function:
        fun, argument = function.group(1), function.group(2)
        if fun in ("env", "Env"):
            return environ.get(argument)
        if fun == "config":
            return None  # no credentials are loaded while rendering: stays literal
        if fun in ("path", "Path", "file", "File"):
            raise SyamlError(f"${{{name}}}: {fun}() is not used by rolepact's deployment files")
        return ""  # the core resolves any other "function" to an empty string
    for key in (name, f"services.{name}"):
        if keys.get(key) is not None:
            return keys[key]
    return None


def _js_replace_first(text: str, pattern: str, replacement: str) -> str:
    """`String.prototype.replace(string, string)`: first occurrence, `$` patterns honoured."""
    at = text.find(pattern)
    if at < 0:
        return text
    before, after = text[:at], text[at + len(pattern):]
    out, i = [], 0
    while i < len(replacement):
        pair = replacement[i:i + 2]
        if pair == "$$":
            out.append("$")
        elif pair == "$&":
            out.append(pattern)
        elif pair == "$`":
            out.append(before)
        elif pair == "$'":
            out.append(after)
        else:
            out.append(replacement[i])
            i += 1
            continue
        i += 2
    return before + "".join(out) + after


# ------------------------------------------------------------------------------ edition 3.0.0
def render_core3(document: dict, environ: Mapping[str, str]) -> dict:
    """@serverless-devs/parse-spec ParseContent.getSteps for one file (no extend, no env.yaml)."""
    if document.get("extend") or document.get("environment"):
        raise SyamlError("extend/environment at the top of an edition 3.0.0 file is not supported here")
    resources = document.get("resources") or {}
    rest = {key: value for key, value in document.items() if key != "resources"}
    common = {"vars": document.get("vars") or {}}
    content = {**document, **_core3_inputs(rest, common, environ)}
    common = {"vars": content.get("vars") or {}}
    rendered = {}
    for name, element in resources.items():
        element = dict(element or {})
        extend = element.get("extend") or {}
        if extend.get("ignore"):
            raise SyamlError(f"resources.{name}.extend.ignore is not supported here")
        template = (content.get("template") or {}).get(extend.get("name"), {}) if extend else {}
        template = _core3_inputs(template, common, environ)
        element["props"] = _extend2({}, template, element.get("props") or {})
        rendered[name] = _core3_inputs(element, common, environ)
    return {**content, "resources": rendered}


def _core3_inputs(value, context: dict, environ: Mapping[str, str]):
    """`getInputs`: compile every string leaf; null/undefined values drop their key."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _core3_compile(item, context, environ) if isinstance(item, str) else item
            if item is not None:
                out[key] = _core3_inputs(item, context, environ) if isinstance(item, dict | list) else item
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            item = _core3_compile(item, context, environ) if isinstance(item, str) else item
            out.append(_core3_inputs(item, context, environ) if isinstance(item, dict | list) else item)
        return out
    return value


def _core3_compile(text: str, context: dict, environ: Mapping[str, str]):
    result = _core3_once(text, context, environ)
    if isinstance(result, str) and _V3_EXPR.search(result):
        result = _core3_once(result, context, environ)  # devs-compile renders a result once more
    return result


def _core3_once(text: str, context: dict, environ: Mapping[str, str]):
    whole = _V3_EXPR.fullmatch(text)
    if whole:
        return _core3_eval(whole.group(1).strip(), context, environ)
    return _V3_EXPR.sub(lambda m: _core3_text(_core3_eval(m.group(1).strip(), context, environ), text), text)


def _core3_text(value, text: str) -> str:
    if isinstance(value, dict | list):
        raise SyamlError(f"{text!r}: a map or list inside a longer string is not supported")
    return js_string(value)


def _core3_eval(expression: str, context: dict, environ: Mapping[str, str]):
    env = _V3_ENV.match(expression)
    if env:
        name, default = env.group(2), env.group(4)
        if environ.get(name):  # an empty value counts as unset
            return environ[name]
        if default is not None:
            return default
        raise SyamlError(f"env('{name}') not found")
    expression = re.sub(r"^this\.", "that.", expression)
    if not _V3_PATH.match(expression) or not expression.startswith("vars."):
        raise SyamlError(f"${{{expression}}}: only env('NAME') and vars.* are used by rolepact's files")
    value = context
    for part in expression.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        raise SyamlError(f"${{{expression}}} not found")
    return copy.deepcopy(value)


def _extend2(target: dict, *sources: dict) -> dict:
    """The `extend2` npm package (jQuery.extend, deep) for what rolepact uses: maps merge."""
    for source in sources:
        for key, value in source.items():
            current = target.get(key)
            if isinstance(value, dict):
                target[key] = _extend2(current if isinstance(current, dict) else {}, value)
            elif isinstance(value, list):
                if isinstance(current, list):
                    raise SyamlError(f"{key}: a list in both the template and the props is not supported")
                target[key] = copy.deepcopy(value)
            elif value is not None:
                target[key] = value
    return target
