"""Seeded generator of adversarial HCL inputs for the differential parser test.

Every input is a whole file: attributes, nested blocks and comments of the three kinds, whose
strings, heredocs, templates, labels and comments are built from `HOSTILE` fragments (quotes,
`${`, `}`, `$${`, `%%{`, escapes, strip markers, unicode). `mutated` then damages such files
(inserted fragments, deleted spans, duplicated or swapped lines), so inputs near the edge of
validity are covered as well. Deterministic for a seed: a failure names the seed and the index.
"""

from __future__ import annotations

import random

# Text that lexers disagree on: every quoting, escaping and template character of HCL.
HOSTILE = (
    '"', '\\"', "\\\\", "\\n", "\\t", "\\r", "\\u00e9", "\\U0001F600", "$${", "%%{", "$$", "%%", "$",
    "%", "${", "%{", "}", "{", "~}", "$${x}", "%%{y}", "$$${", "#", "//", "/*", "*/", "<<EOT", "EOT",
    "<<-EOT", "'", "=", " ", "\t", "é", "日本", "😀", "\u200d", "x", "10.0.0.0/8", "0.0.0.0/0",
)
# Rarer pieces: most make one of the parsers reject the file (bad escapes, raw CR, `${~` that
# python-hcl2 lacks, non-NFC text), so they would otherwise crowd out the inputs both read.
RARE = ("a\u0301", "e\u0301", "\u0301", "\\u0301", "${~", "~}", "\r", "\r\n", "\u00a0", "\\q", "\\u12",
        "\\", "\\UFFFFFFFF", "\\U0000d800")
# Literal expressions both parsers can evaluate with no variables and no functions.
_LITERAL_EXPRS = (
    "1", "-2", "1.5", "0.1", "1e3", "2.5e-1", "true", "false", "null", '"s"', "1 + 2", "7 / 2",
    "6 % 4", "!true", "1 == 1", '"a" != "b"', "true ? \"y\" : \"n\"", "(3)", "[1, \"two\"]",
    '{ a = 1, "b" = "c" }', "3 > 2 && false", '"${1}"', "-1.5", "100000000000000000000",
)
_NAMES = ("a", "b", "cidr_block", "description", "name", "x_1", "in", "for", "if", "port", "value")
_BLOCK_TYPES = ("security_group", "ingress", "egress", "locals", "variable", "block", "in")


class Generator:
    """Random but well-formed-looking HCL; `file()` is one input."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, options: tuple | list):
        return options[self.r.randrange(len(options))]

    # -- text pieces ---------------------------------------------------------------------------

    def fragments(self, low: int, high: int) -> str:
        out = []
        for _ in range(self.r.randint(low, high)):
            out.append(self.pick(RARE) if self.r.random() < 0.03 else self.pick(HOSTILE))
        return "".join(out)

    def comment(self, indent: str) -> str:
        kind = self.r.randrange(3)
        body = self.fragments(0, 8)
        if kind == 0:
            return f"{indent}# {body}\n"
        if kind == 1:
            return f"{indent}// {body}\n"
        body = body.replace("*/", "* /")
        lines = body if self.r.random() < 0.6 else body + "\n" + indent + self.fragments(0, 5).replace("*/", "")
        return f"{indent}/* {lines} */\n"

    def string_part(self) -> str:
        roll = self.r.random()
        if roll < 0.55:
            text = self.fragments(1, 3)
            if self.r.random() < 0.9:  # mostly valid template text, so both parsers get to read it
                text = text.replace('"', '\\"').replace("${", "$${").replace("%{", "%%{")
            return text
        if roll < 0.75:
            strip_l = "~" if self.r.random() < 0.03 else ""
            strip_r = "~" if self.r.random() < 0.03 else ""
            return "${" + strip_l + " " + self.pick(_LITERAL_EXPRS) + " " + strip_r + "}"
        if roll < 0.85:
            tilde = self.pick(("", "", "", "~"))
            return "%{" + tilde + " if " + self.pick(("true", "false", "1 == 1")) + " " + tilde + "}" + \
                self.plain_text() + "%{ else }" + self.plain_text() + "%{ endif " + tilde + "}"
        if roll < 0.92:
            return '%{ for v in ["p", "q"] }${v}' + self.plain_text() + "%{ endfor }"
        return self.plain_text()

    def plain_text(self) -> str:
        return self.pick(("", "a", " b ", "é", "-", "10.0.0.0/8", "$$", "%%", "$${", "%%{"))

    def quoted(self) -> str:
        return '"' + "".join(self.string_part() for _ in range(self.r.randint(0, 4))) + '"'

    def heredoc(self, indent: str) -> str:
        trim = self.r.random() < 0.5
        marker = self.pick(("EOT", "END", "X", "EOF_1"))
        pad = indent + "  " if trim else ""
        lines = []
        for _ in range(self.r.randint(0, 4)):
            text = "".join(self.string_part() for _ in range(self.r.randint(0, 3))).replace("\n", "")
            lines.append(pad + ("  " * self.r.randrange(2) if trim else "") + text)
        close = (indent if trim else "") + marker
        return ("<<-" if trim else "<<") + marker + "\n" + "".join(line + "\n" for line in lines) + close

    # -- expressions and structure -------------------------------------------------------------

    def expr(self, indent: str, depth: int = 0) -> str:
        roll = self.r.random()
        if roll < 0.45:
            return self.quoted()
        if roll < 0.6:
            return self.pick(_LITERAL_EXPRS)
        if roll < 0.72:
            return self.heredoc(indent)
        if roll < 0.82 and depth < 2:
            items = [self.expr(indent, depth + 1) for _ in range(self.r.randint(0, 3))]
            items = [i for i in items if "<<" not in i]
            sep = self.pick((", ", ",\n" + indent + "  "))
            return "[" + sep.join(items) + "]"
        if roll < 0.92 and depth < 2:
            keys = list(dict.fromkeys(self.pick(_NAMES + ('"k"', '"a-b"')) for _ in range(self.r.randint(0, 3))))
            elems = [f"{k} = {v}" for k in keys if "<<" not in (v := self.expr(indent, depth + 1))]
            if self.r.random() < 0.5:
                return "{ " + ", ".join(elems) + " }"
            return "{\n" + "".join(f"{indent}  {e}\n" for e in elems) + indent + "}"
        return self.quoted()

    def attribute(self, indent: str, used: set[str]) -> str:
        name = self.pick(_NAMES)
        if name in used and self.r.random() < 0.9:
            name = f"{name}_{len(used)}"
        used.add(name)
        tail = ""
        if self.r.random() < 0.25:
            tail = " " + self.comment("").rstrip("\n") if self.r.random() < 0.7 else ""
        value = self.expr(indent)
        if value.startswith("<<"):
            tail = ""  # the closing marker must stand alone on its line
        return f"{indent}{name} = {value}{tail}\n"

    def label(self) -> str:
        roll = self.r.random()
        if roll < 0.5:
            return self.pick(('"web"', '"a b"', '"é"', '"x-1"', "bare", '"a\\"b"', '"t\\u0041b"', '"\\\\"'))
        return '"' + self.fragments(0, 3).replace('"', "").replace("\\", "\\\\").replace("${", "$${") \
            .replace("%{", "%%{") + '"'

    def block(self, indent: str, depth: int) -> str:
        kind = self.pick(_BLOCK_TYPES)
        labels = " ".join(self.label() for _ in range(self.r.randint(0, 2)))
        head = f"{indent}{kind} {labels} {{\n" if labels else f"{indent}{kind} {{\n"
        return head + self.items(indent + "  ", depth + 1, self.r.randint(0, 4)) + f"{indent}}}\n"

    def items(self, indent: str, depth: int, count: int) -> str:
        out: list[str] = []
        used: set[str] = set()
        for _ in range(count):
            roll = self.r.random()
            if roll < 0.55:
                out.append(self.attribute(indent, used))
            elif roll < 0.75 and depth < 3:
                out.append(self.block(indent, depth))
            elif roll < 0.95:
                out.append(self.comment(indent))
            else:
                out.append("\n")
        return "".join(out)

    def file(self) -> str:
        return self.items("", 0, self.r.randint(1, 6))

    # -- mutation ------------------------------------------------------------------------------

    def mutated(self, text: str) -> str:
        """`text` with one to three random edits."""
        for _ in range(self.r.randint(1, 3)):
            op = self.r.randrange(5)
            at = self.r.randint(0, len(text))
            if op == 0:
                text = text[:at] + self.pick(HOSTILE + RARE) + text[at:]
            elif op == 1:
                text = text[:at] + text[at + self.r.randint(1, 6):]
            elif op == 2 or op == 3:
                lines = text.split("\n")
                i = self.r.randrange(len(lines))
                if op == 2:
                    lines.insert(i, lines[i])
                else:
                    j = self.r.randrange(len(lines))
                    lines[i], lines[j] = lines[j], lines[i]
                text = "\n".join(lines)
            else:
                text = text[:at] + self.pick(('"', "}", "{", "\n", "$${", "%%{", "/*", "*/", "#")) + text[at:]
        return text


def inputs(seed: int, generated: int, mutated: int) -> list[str]:
    """`generated` fresh files then `mutated` damaged ones, all from `seed`."""
    gen = Generator(seed)
    fresh = [gen.file() for _ in range(generated)]
    damaged = [gen.mutated(gen.file()) for _ in range(mutated)]
    return fresh + damaged
