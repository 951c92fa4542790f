"""Drives `binship mcp` with the official Python MCP SDK over stdio and prints one JSON report
(read and asserted by crates/binship/tests/mcp.rs). Usage: client.py BINSHIP PROJECT_DIR"""
import asyncio, json, sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binship, project):
    report = {}
    params = StdioServerParameters(command=binship, args=["mcp"], cwd=project, env={"NO_COLOR": "1"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            report["server"] = init.server_info.name
            tools = await s.list_tools()
            report["tools"] = sorted(t.name for t in tools.tools)
            report["output_schemas"] = sorted(t.name for t in tools.tools if t.output_schema)
            report["build_required"] = next(t.input_schema.get("required", []) for t in tools.tools if t.name == "build")

            async def call(name, args, **kw):
                r = await s.call_tool(name, args, **kw)
                return {"is_error": bool(r.is_error), "structured": r.structured_content,
                        "text": [c.text for c in r.content if getattr(c, "type", "") == "text"]}

            report["list_before"] = await call("list_binaries", {})
            progress = []

            async def on_progress(p, total, message):
                progress.append(message)

            report["build"] = await call("build", {"app": "go-id"}, progress_callback=on_progress)
            report["progress"] = progress
            report["scaffold"] = await call("scaffold", {"app": "go-id", "type": "oci", "output": "out-oci"})
            report["list_after"] = await call("list_binaries", {"app": "go-id"})
            # The lifecycle tools (in-process) and the rest, each called once.
            report["inspect"] = await call("inspect", {"image": "oci:out-oci"})
            report["verify"] = await call("verify", {"target": "go-id"})
            report["promote"] = await call("promote", {"app": "go-id", "version": 1})
            report["promote_missing"] = await call("promote", {"app": "go-id", "version": 7})
            report["history"] = await call("history", {"app": "go-id"})
            report["gc"] = await call("gc", {"app": "go-id", "keep": 0})
            report["rollback"] = await call("rollback", {"app": "go-id"})
            report["list_current"] = await call("list_binaries", {"app": "go-id"})
            report["push"] = await call("push", {"app": "go-id", "reference": "no-registry-host"})
            report["sign"] = await call("sign", {"app": "go-id", "key": "/nonexistent/binship.key"})
            report["deploy"] = await call("deploy", {"app": "go-id", "to": "nowhere"})
            report["not_found"] = await call("scaffold", {"app": "nothing"})
            errors = {}
            for name, args in [("build", {}), ("build", {"app": 5}), ("scaffold", {"app": "go-id", "version": "two"}),
                               ("scaffold", {"app": "go-id", "tag": "x:y"})]:
                try:
                    r = await s.call_tool(name, args)
                    errors[f"{name} {json.dumps(args)}"] = {"is_error": bool(r.is_error), "text": [getattr(c, "text", "") for c in r.content]}
                except Exception as e:  # a JSON-RPC error
                    errors[f"{name} {json.dumps(args)}"] = {"jsonrpc_error": str(e)}
            try:
                await s.call_tool("no_such_tool", {})
                errors["no_such_tool"] = {"jsonrpc_error": None}
            except Exception as e:
                errors["no_such_tool"] = {"jsonrpc_error": str(e)}
            report["bad_arguments"] = errors
            # Still alive after the bad calls.
            report["alive"] = (await call("list_binaries", {}))["structured"] is not None
    print(json.dumps(report))


asyncio.run(main(sys.argv[1], sys.argv[2]))
