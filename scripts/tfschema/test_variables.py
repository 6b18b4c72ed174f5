"""The preconditions of infra/ that read only variables, evaluated by Terraform.

`terraform validate` does not evaluate preconditions and there is no plan
without AWS, so a precondition that crashes on a legal input (`length(null)`
when jwt_audience = null) would first fail at `make plan`. Here Terraform's
own `terraform console` evaluates each such condition, with infra/variables.tf
copied verbatim (types, defaults, nullable, validations), under the variable
sets below: every one must evaluate (true or false, never an error), and the
JWT pair must hold exactly when issuer and audiences are set together.

Usage: test_variables.py <infra dir>
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import hcl2

# (variables, expected value of the JWT precondition)
CASES = [
    ({}, True),
    ({"jwt_audience": None}, True),
    ({"jwt_issuer": "https://issuer.example.com", "jwt_audience": ["orders-api"]}, True),
    ({"jwt_issuer": "https://issuer.example.com", "jwt_audience": None}, False),
    ({"jwt_issuer": "https://issuer.example.com"}, False),
    ({"jwt_audience": ["orders-api"]}, False),
]
JWT_CONDITION = "(var.jwt_issuer == null) == (length(var.jwt_audience) == 0)"


def variable_only_conditions(infra):
    """(address, condition) of every pre/postcondition that reads only var.*."""
    out = []
    for path in sorted(Path(infra).glob("*.tf")):
        with open(path) as f:
            doc = hcl2.load(f)
        for entry in doc.get("resource", []) + doc.get("data", []):
            for rtype, named in entry.items():
                for rname, body in named.items():
                    for lifecycle in body.get("lifecycle", []):
                        for kind in ("precondition", "postcondition"):
                            for cond in lifecycle.get(kind, []):
                                expr = cond["condition"]
                                expr = expr[2:-1] if expr.startswith("${") else expr
                                if not re.search(r"\b(local|data|each|self|count|aws_\w+)\.", expr):
                                    out.append((f"{rtype}.{rname} {kind}", expr))
    return out


def cli_value(v):
    """-var takes a string variable's value raw, any other as an HCL expression."""
    if isinstance(v, str):
        return v
    return "null" if v is None else json.dumps(v)


def evaluate(workdir, variables, expr):
    args = ["terraform", f"-chdir={workdir}", "console", "-no-color"]
    for name, value in variables.items():
        args += ["-var", f"{name}={cli_value(value)}"]
    # An empty CLI configuration: a missing one is a warning on stdout.
    cli_config = Path(workdir) / "cli.tfrc"
    cli_config.touch()
    env = dict(
        os.environ, CHECKPOINT_DISABLE="1", TF_DATA_DIR=str(Path(workdir) / ".tfdata"), TF_CLI_CONFIG_FILE=str(cli_config)
    )
    proc = subprocess.run(args, input=f"jsonencode({expr})\n", capture_output=True, text=True, env=env)
    # console prints the value even when a variable is invalid (an error on stderr).
    if proc.returncode != 0 or proc.stderr.strip():
        return None, (proc.stderr or proc.stdout).strip()
    try:
        return json.loads(json.loads(proc.stdout.strip())), None
    except json.JSONDecodeError:
        return None, f"unexpected output {proc.stdout!r} {proc.stderr!r}"


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    infra = Path(argv[1])
    conditions = variable_only_conditions(infra)
    if not any(expr == JWT_CONDITION for _, expr in conditions):
        sys.exit(f"test_variables: the JWT precondition {JWT_CONDITION!r} is no longer in {infra}/api.tf: update this test")
    failures = []
    with tempfile.TemporaryDirectory(prefix="tfvars-") as tmp:
        shutil.copy(infra / "variables.tf", tmp)
        for variables, jwt_expected in CASES:
            for address, expr in conditions:
                value, error = evaluate(tmp, variables, expr)
                label = f"{address} with {variables or 'the defaults'}"
                if error is not None:
                    failures.append(f"{label}: Terraform could not evaluate {expr}: {error.splitlines()[-1]}")
                elif expr == JWT_CONDITION and value is not jwt_expected:
                    failures.append(f"{label}: {expr} is {value}, expected {jwt_expected}")
    for f in failures:
        print(f"test_variables: FAILED: {f}")
    if not failures:
        print(f"test_variables: {len(conditions)} variable-only precondition(s) x {len(CASES)} variable sets evaluate as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
