"""Babel extractor for the programme YAML files, so their texts reach the gettext catalogs.

The texts a province writes in `selection.yaml` and `support.yaml` are msgids like those in code;
without this extractor `make i18n` would not see them and the bot would show English to Vietnamese
users. Wired in `locales/babel.cfg`:

    [extractors]
    programme_yaml = conversations.programmes.extract:extract_yaml
    [programme_yaml: conversations/programmes/**.yaml]

Only programme documents (a top-level `questions`, `checks` or `dossier`) are read: other YAML in
that directory, such as `provinces.yaml`, holds proper names under `name` ("Hà Nội") that must
never become msgids, or a translator could rename a province.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any, TypeGuard

import yaml

from conversations.programmes import TEXT_KEYS

_STR_TAG = "tag:yaml.org,2002:str"
_PROGRAMME_KEYS = ("questions", "checks", "dossier")


def extract_yaml(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any] | Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, None, str, list[str]]]:
    """Yield (line, None, msgid, []) for every text under a translatable key, anywhere in the file.

    The YAML is composed, not loaded, so each text keeps the line it starts on; keywords, comment
    tags and options do not apply to data files and are ignored.
    """
    root = yaml.compose(fileobj, Loader=yaml.SafeLoader)
    if _is_programme(root):
        yield from _walk(root)


def _is_programme(root: yaml.Node | None) -> TypeGuard[yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        return False
    return any(isinstance(k, yaml.ScalarNode) and k.value in _PROGRAMME_KEYS for k, _ in root.value)


def _walk(node: yaml.Node) -> Iterator[tuple[int, None, str, list[str]]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value in TEXT_KEYS
                and isinstance(value, yaml.ScalarNode)
                and value.tag == _STR_TAG
                and value.value.strip()
            ):
                yield value.start_mark.line + 1, None, value.value, []
            else:
                yield from _walk(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item)
