"""What `terraform fmt` would change, for the constructs these files use (no heredocs):
two spaces per bracket level, and the ``=`` of consecutive one-line arguments aligned one
space after the longest name. It follows hclwrite's rules: a line whose value opens a
multi-line expression is not part of an alignment chain and ends the chain before it."""

from __future__ import annotations

_OPENERS = "([{"
_CLOSERS = ")]}"


def _code(line: str) -> str:
    """``line`` with string contents blanked and a trailing comment dropped; interpolation
    brackets inside strings open and close on the line, so they can go too."""
    out: list[str] = []
    i, depth_in_string = 0, 0
    in_string = False
    while i < len(line):
        char = line[i]
        if in_string:
            if char == "\\":
                i += 2
                continue
            if line.startswith("${", i) or line.startswith("%{", i):
                depth_in_string += 1
                i += 2
                continue
            if char == "}" and depth_in_string:
                depth_in_string -= 1
            elif char == '"' and not depth_in_string:
                in_string = False
                out.append('"')
            i += 1
            continue
        if char == '"':
            in_string = True
            out.append('"')
        elif char == "#" or line.startswith("//", i):
            break
        else:
            out.append(char)
        i += 1
    return "".join(out).rstrip()


def _net_brackets(code: str) -> int:
    return sum(code.count(c) for c in _OPENERS) - sum(code.count(c) for c in _CLOSERS)


def _assign_column(code: str) -> int | None:
    """Column of the argument's ``=`` when the line is a one-line argument."""
    for i, char in enumerate(code):
        if char in _OPENERS or char == '"':
            return None
        operator = code[i - 1 : i] in ("=", "!", "<", ">") or code[i + 1 : i + 2] in ("=", ">")
        if char == "=" and i > 0 and not operator:
            return i if _net_brackets(code[i:]) == 0 else None
    return None


def fmt_problems(text: str) -> list[str]:
    problems: list[str] = []
    indents: list[int] = []
    chain: list[tuple[int, int, int]] = []  # (line number, '=' column, name end column)

    def close_chain() -> None:
        if chain:
            target = max(end for _, _, end in chain) + 1
            for number, column, _ in chain:
                if column != target:
                    problems.append(
                        f"line {number}: '=' at column {column}, fmt puts it at {target}"
                    )
        chain.clear()

    for number, raw in enumerate(text.splitlines(), 1):
        if raw != raw.rstrip():
            problems.append(f"line {number}: trailing whitespace")
        if not raw.strip():
            close_chain()
            continue
        code = _code(raw)
        net = _net_brackets(code)
        if net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
        expected = 2 * len(indents)
        if net > 0:
            indents.append(net)
        indent = len(raw) - len(raw.lstrip(" "))
        if indent != expected:
            problems.append(f"line {number}: indented {indent}, fmt indents {expected}")
        column = _assign_column(code) if code.strip() else None
        if column is None:
            close_chain()
            continue
        name_end = len(code[:column].rstrip())
        chain.append((number, column, name_end))
    close_chain()
    return problems
