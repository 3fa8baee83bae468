"""Griffe extension: document `WebSocketServer.on_*` callback slots.

Each slot is a `CallbackSlot(name, doc)` descriptor whose documentation is its second
argument (it becomes the slot's `__doc__` at run time). Griffe reads sources without
running them, so this extension copies that argument into the attribute's docstring.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from griffe import Attribute, Docstring, Extension


def _slot_doc(node: ast.AST) -> str | None:
    """The literal `doc` argument of a `CallbackSlot[...](name, doc)` assignment."""
    value = getattr(node, "value", None)
    if not isinstance(value, ast.Call):
        return None
    func = value.func.value if isinstance(value.func, ast.Subscript) else value.func
    if not (isinstance(func, ast.Name) and func.id == "CallbackSlot"):
        return None
    if len(value.args) < 2:
        return None
    doc = value.args[1]
    if isinstance(doc, ast.Constant) and isinstance(doc.value, str):
        return inspect.cleandoc(doc.value)
    return None


class CallbackSlotDocs(Extension):
    """Give each `CallbackSlot` attribute the docstring it carries at run time."""

    def on_attribute_instance(self, *, node: Any, attr: Attribute, **kwargs: Any) -> None:
        if not isinstance(node, ast.AST):
            return
        doc = _slot_doc(node)
        if doc is None:
            return
        attr.docstring = Docstring(doc, lineno=attr.lineno, parent=attr)
        # The constructor call repeats the docstring; it says nothing more.
        attr.value = None
        attr.labels.add("callback")
