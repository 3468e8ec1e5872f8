"""Question/answer pairs from Python source, via :mod:`ast` (the code is never imported or run).

What becomes a pair: module, class and function docstrings; HTTP routes declared with
decorators (``@app.get("/x")``, ``@router.post(...)``, Flask's ``@bp.route("/x",
methods=[...])``); ORM models (a class with ``__tablename__`` or a ``Model``/``Base`` base,
fields from ``Column(...)``/``mapped_column(...)``/``Mapped[...]``); pydantic schemas (a
class derived from ``BaseModel``/``BaseSettings``, fields from annotations).

What does not: ``__init__.py`` modules and test modules (re-exports and fixtures teach
nothing about the project), private objects, and docstrings of fewer than
``MIN_DOC_WORDS`` words ("Helper.", "TODO") — a model learns nothing from them.
"""

from __future__ import annotations

import ast
from pathlib import Path

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "websocket")
MIN_DOC_WORDS = 4
Pair = tuple[str, str]


def _doc(node: ast.AST) -> str | None:
    """The docstring, unless it is too short to say anything."""
    doc = ast.get_docstring(node)  # type: ignore[arg-type]
    return doc if doc and len(doc.split()) >= MIN_DOC_WORDS else None


def skipped_module(path: Path) -> bool:
    name = path.name
    return name == "__init__.py" or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def pairs_from_source(source: str, module: str) -> list[Pair]:
    """All pairs of one file; raises SyntaxError for code that does not parse."""
    tree = ast.parse(source)
    out: list[Pair] = []
    doc = _doc(tree)
    if doc:
        out.append((f"What is the module `{module}` for?", doc))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            out.extend(_class_pairs(node, module))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.extend(_function_pairs(node, module))
    return out


def pairs_from_file(path: Path, root: Path) -> list[Pair]:
    if skipped_module(path) or "tests" in path.relative_to(root).parts[:-1]:
        return []
    rel = path.relative_to(root).with_suffix("")
    module = (
        ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts) or path.stem
    )
    return pairs_from_source(path.read_text(encoding="utf-8"), module)


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    args = [a for a in args if a not in ("self", "cls")]
    return f"{fn.name}({', '.join(args)})"


def _function_pairs(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, module: str
) -> list[Pair]:
    out: list[Pair] = []
    doc = _doc(fn)
    for route in _routes(fn):
        answer = doc or f"It is handled by `{fn.name}` in `{module}`."
        out.append((f"What does the `{route}` endpoint do?", answer))
    if doc and not fn.name.startswith("_"):
        out.append((f"What does `{_signature(fn)}` in `{module}` do?", doc))
    return out


def _routes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    routes = []
    for dec in fn.decorator_list:
        if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)):
            continue
        attr = dec.func.attr.lower()
        path = (
            dec.args[0].value
            if dec.args and isinstance(dec.args[0], ast.Constant)
            else None
        )
        if not isinstance(path, str):
            continue
        if attr in HTTP_METHODS:
            routes.append(f"{attr.upper()} {path}")
        elif attr in ("route", "api_route"):
            methods = ["GET"]
            for kw in dec.keywords:
                if kw.arg == "methods" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    methods = [
                        str(e.value).upper()
                        for e in kw.value.elts
                        if isinstance(e, ast.Constant)
                    ]
            routes.extend(f"{m} {path}" for m in methods)
    return routes


def _base_names(cls: ast.ClassDef) -> list[str]:
    names = []
    for base in cls.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _class_pairs(cls: ast.ClassDef, module: str) -> list[Pair]:
    out: list[Pair] = []
    doc = _doc(cls)
    if doc and not cls.name.startswith("_"):
        out.append((f"What is `{cls.name}` in `{module}`?", doc))
    bases = _base_names(cls)
    has_table = any(
        isinstance(s, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in s.targets)
        for s in cls.body
    )
    if any(b in ("BaseModel", "BaseSettings") for b in bases):
        fields = _annotated_fields(cls)
        if fields:
            lines = "\n".join(f"- `{n}`: {t}" for n, t in fields)
            out.append(
                (
                    f"Which fields does the `{cls.name}` schema have?",
                    f"`{cls.name}` has:\n{lines}",
                )
            )
    elif has_table or any(b in ("Model", "Base", "DeclarativeBase") for b in bases):
        fields = _orm_fields(cls)
        if fields:
            lines = "\n".join(f"- `{n}`: {t}" for n, t in fields)
            out.append(
                (
                    f"Which fields does the `{cls.name}` model have?",
                    f"`{cls.name}` has:\n{lines}",
                )
            )
    return out


def _annotated_fields(cls: ast.ClassDef) -> list[tuple[str, str]]:
    fields = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id.startswith("_") or stmt.target.id == "model_config":
                continue
            kind = ast.unparse(stmt.annotation)
            if stmt.value is not None:
                kind += f" (default {ast.unparse(stmt.value)})"
            fields.append((stmt.target.id, kind))
    return fields


def _orm_fields(cls: ast.ClassDef) -> list[tuple[str, str]]:
    fields = []
    for stmt in cls.body:
        target, value, annotation = None, None, None
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target, value, annotation = stmt.target.id, stmt.value, stmt.annotation
        if not target or target.startswith("_"):
            continue
        if isinstance(value, ast.Call):
            func = (
                value.func.attr
                if isinstance(value.func, ast.Attribute)
                else getattr(value.func, "id", "")
            )
            if func in ("Column", "mapped_column", "Field") or func.endswith("Field"):
                args = ", ".join(ast.unparse(a) for a in value.args)
                fields.append(
                    (target, args or (ast.unparse(annotation) if annotation else func))
                )
                continue
        if annotation is not None and ast.unparse(annotation).startswith("Mapped["):
            fields.append((target, ast.unparse(annotation)[7:-1]))
    return fields
