"""Both schema checks must fail on each of six errors planted in a copy of infra/.

One copy holds all six, in blocks none of which depends on another: Terraform
does not validate what depends on a block that failed. One `terraform validate`
(validate.py, against the stand-in provider) and one run of check.py look at
it; a plant Terraform missed there is retried alone (a change of infra/ may
have put one plant downstream of another) before it counts as missed. Every plant must be reported by both, at its file and
line; a plant whose original text is no longer in infra/ fails the test too,
so the plants follow infra/ instead of silently planting nothing.

  --module DIR  (by hand, not in make test) check.py on a well-kept module,
                e.g. terraform-aws-modules/terraform-aws-lambda: every finding
                there is a false positive.

Usage: test_checks.py <schema.json> <stubs dir> <repository root>
       test_checks.py <schema.json> --module DIR
"""

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check  # noqa: E402
import validate  # noqa: E402

# (what, file, original text, planted text, the planted line's marker,
#  Terraform's diagnostic summary, words of check.py's message)
PLANTS = [
    (
        "an unknown argument",
        "sns.tf",
        "  endpoint  = var.approver_email\n",
        "  endpoint  = var.approver_email\n  no_such_argument = true\n",
        "no_such_argument",
        "Unsupported argument",
        'unknown argument "no_such_argument"',
    ),
    (
        "a missing required argument",
        "kms.tf",
        "  target_key_id = aws_kms_key.this.key_id\n",
        "",
        'resource "aws_kms_alias" "this"',
        "Missing required argument",
        'required argument "target_key_id" is missing',
    ),
    (
        "a nested block written as an argument",
        "api.tf",
        "  jwt_configuration {\n",
        "  jwt_configuration = {\n",
        "jwt_configuration =",
        "Unsupported argument",
        '"jwt_configuration" is a block, not an argument',
    ),
    (
        "a wrong nested block name",
        "api.tf",
        "  default_route_settings {\n",
        "  default_route_setting {\n",
        "default_route_setting {",
        "Unsupported block type",
        'unknown block type "default_route_setting"',
    ),
    (
        "a reference to an attribute the resource does not have",
        "outputs.tf",
        "  value       = aws_apigatewayv2_api.this.api_endpoint\n",
        "  value       = aws_apigatewayv2_api.this.api_url\n",
        "aws_apigatewayv2_api.this.api_url",
        "Unsupported attribute",
        'has no attribute "api_url"',
    ),
    (
        "a second instance of an at-most-one block",
        "lambda.tf",
        '  tracing_config {\n    mode = "Active"\n  }\n',
        '  tracing_config {\n    mode = "Active"\n  }\n\n  tracing_config {\n    mode = "PassThrough"\n  }\n',
        'mode = "PassThrough"',
        "Too many tracing_config blocks",
        'at most one "tracing_config" block',
    ),
]


def plant(copy, plants=PLANTS):
    """Plant the errors; return {what: (file, line)} of the planted lines."""
    where = {}
    for what, name, original, planted, marker, _, _ in plants:
        path = copy / name
        text = path.read_text()
        if text.count(original) != 1:
            raise SystemExit(f"test_checks: cannot plant {what}: infra/{name} no longer holds exactly one {original!r}")
        text = text.replace(original, planted)
        path.write_text(text)
        lines = [n for n, line in enumerate(text.split("\n"), 1) if marker in line]
        if len(lines) != 1:
            raise SystemExit(f"test_checks: the marker {marker!r} of {what} is not on exactly one line of {name}")
        line = lines[0]
        if marker.startswith("mode ="):
            line -= 1  # both report the second block's opening line
        where[what] = (name, line)
    return where


def make_copy(tmp, root, plants):
    copy = Path(tempfile.mkdtemp(dir=tmp)) / "infra"
    shutil.copytree(root / "infra", copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    # sfn.tf reads ../statemachines/order-saga.asl.json.
    shutil.copytree(root / "statemachines", copy.parent / "statemachines")
    return copy, plant(copy, plants)


def reported(diagnostics, summary, file, line):
    return any(
        d.get("severity") == "error"
        and d.get("summary") == summary
        and (d.get("range") or {}).get("filename") == file
        and d["range"]["start"]["line"] == line
        for d in diagnostics
    )


def main(argv):
    if len(argv) == 4 and argv[2] == "--module":
        version, schema = check.load_schema(argv[1])
        findings, counts = check.check_dirs(schema, [argv[3]])
        for f in findings:
            print(f"  false positive? {f}")
        print(f"test_checks: {argv[3]}: {counts['blocks']} blocks, {counts['references']} references, {len(findings)} findings")
        return 1 if findings else 0
    if len(argv) != 4:
        sys.exit(__doc__)
    schema_path, stubs, root = argv[1], argv[2], Path(argv[3])
    _, schema = check.load_schema(schema_path)
    failures = []
    with tempfile.TemporaryDirectory(prefix="tfschema-plants-") as tmp:
        copy, where = make_copy(tmp, root, PLANTS)
        valid, diagnostics = validate.run(schema_path, stubs, copy)
        if valid:
            failures.append("terraform validate accepted the planted copy")
        findings, _ = check.check_dirs(schema, [copy])

        for entry in PLANTS:
            what, name, _, _, _, summary, words = entry
            file, line = where[what]
            tf_hit = reported(diagnostics, summary, file, line)
            if not tf_hit:
                alone, alone_where = make_copy(tmp, root, [entry])
                _, alone_diagnostics = validate.run(schema_path, stubs, alone)
                tf_hit = reported(alone_diagnostics, summary, *alone_where[what])
                if tf_hit:
                    print(f"  ({what}: reported when planted alone; it sits downstream of another plant)")
            ours = [f for f in findings if f.path.endswith("/" + file) and f.line == line and words in f.message]
            status = []
            if not tf_hit:
                status.append("terraform validate did NOT report it")
                failures.append(f"{what}: terraform validate said nothing at {file}:{line} ({summary!r})")
            if not ours:
                status.append("check.py did NOT report it")
                failures.append(f"{what}: check.py said nothing at {file}:{line} ({words!r})")
            print(f"  {what} ({file}:{line}): {'; '.join(status) or 'reported by both'}")
        if failures:
            print("  terraform validate said:")
            for d in diagnostics:
                print(f"    {validate.describe(d)}")
            print("  check.py said:")
            for f in findings:
                print(f"    {f}")
    for f in failures:
        print(f"test_checks: FAILED: {f}")
    if not failures:
        print(f"test_checks: all {len(PLANTS)} planted errors reported by terraform validate and by check.py")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
