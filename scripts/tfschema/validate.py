"""`terraform validate` of a directory against the stand-in aws provider.

Nothing is fetched and nothing is written into the directory: a CLI
configuration with `provider_installation { dev_overrides }` points Terraform
at provider.py (through a two-line wrapper named terraform-provider-aws), and
with dev_overrides `terraform validate` needs no `init` when, as in infra/,
hashicorp/aws is the only provider. TF_DATA_DIR goes to a scratch directory
all the same, so no .terraform/ can appear in the checked directory.

Usage: validate.py <schema.json> <stubs dir> <dir>   (exit 1 if invalid)
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV_OVERRIDE_WARNING = "Provider development overrides are in effect"


def run(schema, stubs, directory):
    """(valid, diagnostics) of `terraform validate -json` in `directory`."""
    with tempfile.TemporaryDirectory(prefix="tfschema-") as scratch:
        scratch = Path(scratch)
        plugin_dir = scratch / "plugins"
        plugin_dir.mkdir()
        wrapper = plugin_dir / "terraform-provider-aws"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'exec "{sys.executable}" "{HERE / "provider.py"}" "{Path(schema).resolve()}" "{Path(stubs).resolve()}"\n'
        )
        wrapper.chmod(0o755)
        cli_config = scratch / "cli.tfrc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  dev_overrides {{\n    "hashicorp/aws" = "{plugin_dir}"\n  }}\n'
            "  direct {}\n}\n"
        )
        env = dict(
            os.environ,
            TF_CLI_CONFIG_FILE=str(cli_config),
            TF_DATA_DIR=str(scratch / "data"),
            TF_DISABLE_PLUGIN_TLS="1",
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
        )
        proc = subprocess.run(
            ["terraform", f"-chdir={directory}", "validate", "-json", "-no-color"],
            env=env,
            capture_output=True,
            text=True,
        )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(proc.stdout + proc.stderr)
        return False, [{"severity": "error", "summary": f"terraform validate exited {proc.returncode}, no JSON"}]
    diagnostics = [d for d in result.get("diagnostics", []) if d.get("summary") != DEV_OVERRIDE_WARNING]
    return bool(result.get("valid")) and proc.returncode == 0, diagnostics


def describe(d):
    rng = d.get("range") or {}
    where = f"{rng.get('filename', '?')}:{rng.get('start', {}).get('line', '?')}: " if rng else ""
    detail = " ".join(d.get("detail", "").split())
    return f"{where}{d.get('severity', '?')}: {d.get('summary', '')}" + (f": {detail}" if detail else "")


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    schema, stubs, directory = argv[1:]
    version = json.load(open(schema)).get("provider_version", "?")
    valid, diagnostics = run(schema, stubs, directory)
    for d in diagnostics:
        print(f"  {directory}/{describe(d)}")
    verdict = "valid" if valid else "INVALID"
    print(f"terraform validate {directory} (hashicorp/aws {version} schema, stand-in provider): {verdict}")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
