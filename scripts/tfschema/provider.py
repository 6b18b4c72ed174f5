"""A schema-only stand-in for the hashicorp/aws provider (plugin protocol 6).

Terraform starts it like any provider binary (through the dev_overrides of a
CLI configuration, see scripts/infra-checks.sh), reads the schema built by
build_schema.py from it, and runs its own checks of `terraform validate`:
argument names and types, required arguments, block shapes and counts,
references, cycles. The Validate*Config calls accept every value: the real
provider's value validators are not in the schema. Everything that would talk
to AWS (configure, plan, apply, read) is left unimplemented and fails.

Handshake (hashicorp/go-plugin): Terraform sets TF_PLUGIN_MAGIC_COOKIE and
reads one line from stdout, `1|6|tcp|127.0.0.1:<port>|grpc`; it then checks
the grpc health service and calls the provider over plain TCP on loopback
(TLS is off: the infra checks set TF_DISABLE_PLUGIN_TLS=1).

Usage: provider.py <schema.json> <directory with tfplugin6_pb2*.py>
"""

import json
import os
import sys
import threading
from concurrent import futures

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
PROVIDER = "registry.terraform.io/hashicorp/aws"


def load(schema_path, pb):
    """The GetProviderSchema response, built once per process."""
    doc = json.load(open(schema_path))
    aws = doc["provider_schemas"][PROVIDER]

    def block(b):
        out = pb.Schema.Block()
        for name, a in sorted(b.get("attributes", {}).items()):
            out.attributes.add(
                name=name,
                type=json.dumps(a["type"]).encode(),
                required=a.get("required", False),
                optional=a.get("optional", False),
                computed=a.get("computed", False),
                write_only=a.get("write_only", False),
            )
        for name, bt in sorted(b.get("block_types", {}).items()):
            nesting = {"single": 1, "list": 2, "set": 3, "map": 4}[bt["nesting_mode"]]
            out.block_types.add(
                type_name=name,
                block=block(bt["block"]),
                nesting=nesting,
                min_items=bt.get("min_items", 0),
                max_items=bt.get("max_items", 0),
            )
        return out

    def schema(s):
        return pb.Schema(version=s.get("version", 0), block=block(s["block"]))

    response = pb.GetProviderSchema.Response(provider=schema(aws["provider"]))
    for name, s in aws["resource_schemas"].items():
        response.resource_schemas[name].CopyFrom(schema(s))
    for name, s in aws["data_source_schemas"].items():
        response.data_source_schemas[name].CopyFrom(schema(s))
    response.server_capabilities.get_provider_schema_optional = False
    return response


def serve(schema_path, stubs_dir):
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE:
        sys.exit("This is a Terraform provider plugin (a schema-only stand-in for hashicorp/aws); Terraform starts it.")
    sys.path.insert(0, stubs_dir)
    import grpc
    import tfplugin6_pb2 as pb
    import tfplugin6_pb2_grpc as pb_grpc

    schema = load(schema_path, pb)
    stop = threading.Event()

    class Provider(pb_grpc.ProviderServicer):
        def GetMetadata(self, request, context):
            return pb.GetMetadata.Response(
                resources=[pb.GetMetadata.ResourceMetadata(type_name=n) for n in schema.resource_schemas],
                data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=n) for n in schema.data_source_schemas],
            )

        def GetProviderSchema(self, request, context):
            return schema

        def ValidateProviderConfig(self, request, context):
            return pb.ValidateProviderConfig.Response()

        def ValidateResourceConfig(self, request, context):
            return pb.ValidateResourceConfig.Response()

        def ValidateDataResourceConfig(self, request, context):
            return pb.ValidateDataResourceConfig.Response()

        def GetFunctions(self, request, context):
            return pb.GetFunctions.Response()

        def StopProvider(self, request, context):
            return pb.StopProvider.Response()

    def raw(handler):
        return grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=lambda b: b, response_serializer=lambda b: b
        )

    # grpc.health.v1.Health/Check -> HealthCheckResponse{status: SERVING}: go-plugin
    # pings the "plugin" service before using the connection.
    health = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": raw(lambda request, context: b"\x08\x01")}
    )

    # plugin.GRPCController/Shutdown: Terraform's way to end the plugin.
    def shutdown(request, context):
        stop.set()
        return b""

    controller = grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": raw(shutdown)})

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)],
    )
    pb_grpc.add_ProviderServicer_to_server(Provider(), server)
    server.add_generic_rpc_handlers((health, controller))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"1|6|tcp|127.0.0.1:{port}|grpc", flush=True)
    stop.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    serve(sys.argv[1], sys.argv[2])
