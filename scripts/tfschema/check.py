"""Check a Terraform directory against the hashicorp/aws schema, with file:line.

The same schema the stand-in provider serves (build_schema.py). For every
`resource` and `data` block of an aws_* type, and every nested block in it
(static or `dynamic`):

  - an argument the schema does not have, or one it computes (cannot be set);
  - a required argument, or a required nested block, that is missing;
  - a block written as an argument (`x = {...}`) or an argument written as a block;
  - a second instance of an at-most-one block (max_items = 1, or a single block);

and every `aws_x.name.attr` / `data.aws_x.name.attr` reference anywhere in the
directory names a declared resource and an attribute or block its type has.

`terraform validate` checks all of this too; this check says where, and runs
without Terraform. It knows nothing of values: a wrong string is not found.

Usage: check.py <schema.json> <dir> [<dir> ...]   (exit 1 on any finding)
"""

import json
import re
import sys
from pathlib import Path

import hcl2

PROVIDER = "registry.terraform.io/hashicorp/aws"
META = {"__start_line__", "__end_line__"}
RESOURCE_META_ARGS = {"count", "for_each", "provider", "depends_on"}
RESOURCE_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
REFERENCE_RE = re.compile(
    r"(?<![\w.])((?:data\.)?)(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)((?:\[[^\]\[]*(?:\[[^\]]*\][^\]\[]*)*\])*)\.([A-Za-z_]\w*)"
)


class Finding:
    def __init__(self, path, line, message):
        self.path, self.line, self.message = path, line, message

    def __str__(self):
        return f"{self.path}:{self.line}: {self.message}"


def load_schema(path):
    doc = json.load(open(path))
    aws = doc["provider_schemas"][PROVIDER]
    return doc.get("provider_version", "?"), aws


def is_block(value):
    return isinstance(value, list) and value and all(isinstance(v, dict) and "__start_line__" in v for v in value)


class FileChecker:
    def __init__(self, path, display, schema, findings, counts):
        self.path, self.display, self.schema, self.findings = path, display, schema, findings
        self.counts = counts
        self.lines = path.read_text().split("\n")

    def report(self, line, message):
        self.findings.append(Finding(self.display, line, message))

    def attribute_line(self, body, name):
        """The line of `name =` directly in this block (not in a nested one)."""
        start, end = body["__start_line__"], body["__end_line__"]
        nested = [(b["__start_line__"], b["__end_line__"]) for v in body.values() if is_block(v) for b in v]
        for dyn in body.get("dynamic", []):
            nested += [(spec["__start_line__"], spec["__end_line__"]) for k, spec in dyn.items() if k not in META]
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
        for n in range(start + 1, end):
            if any(s <= n <= e for s, e in nested):
                continue
            if pattern.match(self.lines[n - 1]):
                return n
        return start

    def check_body(self, where, body, block_schema, meta_args=(), meta_blocks=()):
        attributes = block_schema.get("attributes", {})
        block_types = block_schema.get("block_types", {})
        seen_blocks = {}
        dynamic_blocks = set()
        for name, value in body.items():
            if name in META:
                continue
            if name == "dynamic" and isinstance(value, list):
                for dyn in value:
                    for label, spec in dyn.items():
                        if label in META:
                            continue
                        dynamic_blocks.add(label)
                        line = spec["__start_line__"]
                        if label not in block_types:
                            self.unknown(line, where, label, attributes, block_types, as_block=True)
                            continue
                        for content in spec.get("content", []):
                            self.check_body(f"{where}.{label}", content, block_types[label]["block"])
                continue
            if is_block(value):
                if name in meta_blocks:
                    continue
                if name not in block_types:
                    self.unknown(value[0]["__start_line__"], where, name, attributes, block_types, as_block=True)
                    continue
                seen_blocks[name] = value
                for b in value:
                    self.check_body(f"{where}.{name}", b, block_types[name]["block"])
                continue
            if name in meta_args:
                continue
            line = self.attribute_line(body, name)
            if name not in attributes:
                self.unknown(line, where, name, attributes, block_types, as_block=False)
            elif (
                attributes[name].get("computed")
                and not (attributes[name].get("optional") or attributes[name].get("required"))
                and not (isinstance(value, str) and "${" in value)
            ):
                # Only a literal: an expression may be null, which Terraform accepts.
                self.report(line, f'{where}: "{name}" is computed by the provider; it cannot be set')
        start = body["__start_line__"]
        for name, a in sorted(attributes.items()):
            if a.get("required") and name not in body:
                self.report(start, f'{where}: the required argument "{name}" is missing')
        for name, bt in sorted(block_types.items()):
            count = len(seen_blocks.get(name, []))
            if bt.get("min_items", 0) > count and name not in dynamic_blocks:
                self.report(start, f'{where}: the required block "{name}" is missing')
            at_most_one = bt["nesting_mode"] == "single" or bt.get("max_items") == 1
            if at_most_one and count > 1:
                second = seen_blocks[name][1]["__start_line__"]
                self.report(second, f'{where}: at most one "{name}" block is allowed, this is the second')

    def unknown(self, line, where, name, attributes, block_types, as_block):
        if as_block and name in attributes:
            self.report(line, f'{where}: "{name}" is an argument, not a block: write {name} = ...')
        elif not as_block and name in block_types:
            self.report(line, f'{where}: "{name}" is a block, not an argument: write {name} {{ ... }}')
        else:
            kind = "block type" if as_block else "argument"
            self.report(line, f'{where}: unknown {kind} "{name}"')

    def check_resources(self, doc):
        for section, schemas, prefix in (
            ("resource", self.schema["resource_schemas"], ""),
            ("data", self.schema["data_source_schemas"], "data."),
        ):
            for entry in doc.get(section, []):
                for rtype, named in entry.items():
                    for rname, body in named.items():
                        if rname in META or not rtype.startswith("aws_"):
                            continue
                        where = f"{prefix}{rtype}.{rname}"
                        self.counts["blocks"] += 1
                        if rtype not in schemas:
                            self.report(body["__start_line__"], f"{where}: hashicorp/aws has no {section} type {rtype}")
                            continue
                        self.check_body(where, body, schemas[rtype]["block"], RESOURCE_META_ARGS, RESOURCE_META_BLOCKS)

    def check_references(self, declared, iterators):
        for n, text in enumerate(self.lines, 1):
            stripped = text.lstrip()
            if stripped.startswith("#") or stripped.startswith("//"):
                continue
            for m in REFERENCE_RE.finditer(text):
                data, rtype, rname, _, attr = m.groups()
                if not data and rtype in iterators:
                    continue  # a dynamic block's iterator (`aws_idc.value`), not a resource
                self.counts["references"] += 1
                section = "data_source_schemas" if data else "resource_schemas"
                address = f"{data}{rtype}.{rname}"
                schema = self.schema[section].get(rtype)
                if schema is None:
                    self.report(n, f"{address}: hashicorp/aws has no {'data source' if data else 'resource'} type {rtype}")
                    continue
                if address not in declared:
                    self.report(n, f"{address} is not declared in this module")
                block = schema["block"]
                if attr not in block["attributes"] and attr not in block["block_types"]:
                    self.report(n, f'{address}.{attr}: {rtype} has no attribute "{attr}"')


def dynamic_iterators(node, out):
    """Names a `dynamic` block binds: its label, or its `iterator`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "dynamic" and isinstance(value, list):
                for dyn in value:
                    for label, spec in dyn.items():
                        if label not in META and isinstance(spec, dict):
                            out.add(str(spec.get("iterator", label)).strip("${}"))
            dynamic_iterators(value, out)
    elif isinstance(node, list):
        for item in node:
            dynamic_iterators(item, out)
    return out


def declared_addresses(docs):
    out = set()
    for doc in docs.values():
        for section, prefix in (("resource", ""), ("data", "data.")):
            for entry in doc.get(section, []):
                for rtype, named in entry.items():
                    out.update(f"{prefix}{rtype}.{rname}" for rname in named if rname not in META)
    return out


def check_dirs(schema, dirs):
    findings, docs, counts = [], {}, {"files": 0, "blocks": 0, "references": 0}
    for d in dirs:
        for path in sorted(Path(d).rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            display = str(path)
            try:
                with open(path) as f:
                    docs[(path, display, Path(d))] = hcl2.load(f, with_meta=True)
            except Exception as e:  # python-hcl2 raises lark's errors
                findings.append(Finding(display, getattr(e, "line", 0), f"cannot parse: {str(e).splitlines()[0]}"))
    # Each directory is one module: references resolve within it.
    for module_dir in sorted({k[0].parent for k in docs}):
        module = {k: v for k, v in docs.items() if k[0].parent == module_dir}
        declared = declared_addresses(module)
        iterators = dynamic_iterators(list(module.values()), set())
        for (path, display, _), doc in module.items():
            counts["files"] += 1
            fc = FileChecker(path, display, schema, findings, counts)
            fc.check_resources(doc)
            fc.check_references(declared, iterators)
    return findings, counts


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    version, schema = load_schema(argv[1])
    findings, counts = check_dirs(schema, argv[2:])
    for f in findings:
        print(f)
    counted = f"{len(findings)} finding(s)" if findings else "no findings"
    print(
        f"schema check against hashicorp/aws {version}: {', '.join(argv[2:])}: {counts['files']} files, "
        f"{counts['blocks']} resource/data blocks, {counts['references']} references: {counted}"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
