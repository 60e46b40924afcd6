"""Reading what users hand the framework (configs, manifests, kubeconfigs, bundles) with bounds.

Every file the framework reads may be hostile or merely wrong: a 458-byte manifest whose YAML aliases
expand to gigabytes, a 45 MB file given where a config was meant, a ``!!python`` tag, nesting deep enough
to exhaust the interpreter's recursion. Each must answer in seconds, in little memory, with one line. So:

- sizes are checked before reading (:func:`read_text`, :func:`read_first_line`); a config is kilobytes;
- YAML is parsed by libyaml (fast, bounded nesting) and composed here, counting depth and what aliases
  expand to (:func:`yaml_nodes`, :func:`yaml_documents`): an alias is cheap to parse and costs its full
  size to whatever walks the result, so the expanded size is what is limited;
- only YAML's standard tags are constructed (SafeConstructor): ``!!python/...`` is a one-line refusal.

Errors are :class:`InputError` (a :class:`ZdmError`): one line, naming the file; callers add the setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from pytest_zdm.errors import ZdmError

#: Configs, manifests, kubeconfigs, zdm.toml, gate.json: kilobytes in practice.
MAX_CONFIG_BYTES = 1 << 20
#: A secret or a password file: one short line.
MAX_LINE_BYTES = 64 << 10
#: Nodes a YAML stream may amount to once its aliases are expanded (a proxy manifest has hundreds).
MAX_YAML_NODES = 200_000
#: Nesting of YAML collections (a manifest nests about 10 deep).
MAX_YAML_DEPTH = 64


class InputError(ZdmError):
    """A file the framework was given cannot be read within its bounds, or is not what it should be.

    ``str()`` is ``<source>: <reason>``; ``reason`` alone lets a caller put it in its own sentence.
    """

    def __init__(self, source: object, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.reason = reason


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or type(exc).__name__})") from None


def read_text(path: Path, *, what: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of ``path``, refused in one line when larger than ``limit`` bytes or not UTF-8.

    ``what`` says what the file should be (``a zdm-proxy configuration``) for the error.
    """
    size = _size(path)
    if size > limit:
        raise InputError(
            path, f"{size:,} bytes; expected {what} of at most {limit:,} bytes (is it the right file?)"
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat
        if len(data) > limit:
            raise InputError(path, f"over {limit:,} bytes; expected {what} of at most {limit:,} bytes")
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start}); expected {what}") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or type(exc).__name__})") from None


def read_first_line(path: Path, *, limit: int = MAX_LINE_BYTES) -> str:
    """The first line of ``path`` (a secret file: what Kubernetes mounts ends with a newline), bounded."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or type(exc).__name__})") from None
    line, newline, _ = data.partition(b"\n")
    if not newline and len(data) > limit:
        raise InputError(path, f"its first line is over {limit:,} bytes; expected one short line")
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text; expected one line") from None


class _DepthLimited(Composer):
    """PyYAML's composer (aliases stay shared nodes) refusing nesting deeper than :data:`MAX_YAML_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, counting how deep it sits."""
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                event = self.peek_event()  # type: ignore[attr-defined]  # the parser's, mixed in
                line = f" (line {event.start_mark.line + 1})" if event and event.start_mark else ""
                raise _Limit(f"YAML nested more than {MAX_YAML_DEPTH} deep{line}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_scalar_node(self, anchor: Any) -> Any:
        """A scalar as PyYAML's own parser gives it: a plain one has style None (libyaml says ``""``)."""
        node = super().compose_scalar_node(anchor)
        if node.style == "":
            node.style = None
        return node


class _PureLoader(_DepthLimited, yaml.SafeLoader):
    """PyYAML's own parser (where it was built without libyaml)."""


def _loader_class() -> type[Any]:
    """The loader on libyaml's parser where PyYAML has it (~5x faster; nesting bounded without recursion)."""
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        return _PureLoader

    class _FastLoader(_DepthLimited, CParser, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return _FastLoader


_Loader = _loader_class()


class _Limit(Exception):
    """A bound was reached while composing."""


class _Tag(Exception):
    """A tag beyond YAML's standard ones (``!!python/object``...): no configuration needs one."""


#: The tags SafeConstructor builds (str, int, map, seq, timestamp...): every configuration is made of them.
_STANDARD_TAGS = frozenset(
    [*(tag for tag in SafeConstructor.yaml_constructors if tag is not None), "tag:yaml.org,2002:merge"]
)


def _expanded_size(node: yaml.Node, memo: dict[int, int], budget: int) -> int:
    """Nodes ``node`` amounts to with every alias expanded; stops counting past ``budget``."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = budget + 1  # in progress: an alias back to an ancestor (a cycle) is over any budget
    if node.tag not in _STANDARD_TAGS:
        raise _Tag(f"it is not plain YAML (line {node.start_mark.line + 1}): tag {node.tag!r}")
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, budget)
        if total > budget:
            break
    memo[id(node)] = total
    return total


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``(line N): what`` for a YAML error, on one line."""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return f"{where}: {str(problem).rstrip(':')}"


def yaml_nodes(text: str, *, source: object) -> list[yaml.Node]:
    """The YAML documents of ``text`` as nodes (empty documents dropped), within the bounds.

    ``source`` names the file in errors. Aliases stay shared nodes; their expanded size is bounded by
    :data:`MAX_YAML_NODES` over the whole stream.
    """
    loader = _Loader(text)
    nodes: list[yaml.Node] = []
    memo: dict[int, int] = {}
    total = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            total += _expanded_size(node, memo, MAX_YAML_NODES - total)
            if total > MAX_YAML_NODES:
                raise _Limit(
                    f"its YAML amounts to more than {MAX_YAML_NODES:,} values once aliases are expanded "
                    "(an alias bomb, or an alias inside itself?)"
                )
            nodes.append(node)
    except _Limit as exc:
        raise InputError(source, f"refused: {exc}") from None
    except _Tag as exc:
        raise InputError(source, str(exc)) from None
    except yaml.YAMLError as exc:
        raise InputError(source, f"it is not valid YAML{_yaml_problem(exc)}") from None
    finally:
        loader.dispose()
    return nodes


def yaml_construct(nodes: list[yaml.Node], *, source: object) -> list[Any]:
    """Python values of composed documents (standard tags only; ``!!python/...`` is refused)."""
    loader = _Loader("")
    try:
        return [loader.construct_document(node) for node in nodes]
    except yaml.YAMLError as exc:  # a tag no configuration needs (!!python/object...)
        raise InputError(source, f"it is not plain YAML{_yaml_problem(exc)}") from None
    finally:
        loader.dispose()


def yaml_documents(text: str, *, source: object) -> list[Any]:
    """The YAML documents of ``text`` as Python values (standard tags only), within the bounds."""
    return yaml_construct(yaml_nodes(text, source=source), source=source)
