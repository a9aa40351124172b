"""`rolepact local` and `rolepact fake serve`: the local runtime's command line."""
from __future__ import annotations

import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cmd_local(args) -> int:
    import logging

    from shared.local.syaml import SyamlError

    logging.disable(logging.CRITICAL if not args.verbose else logging.NOTSET)
    deployment = Path(args.deployment)
    try:
        if args.watch:
            return watch(Path(args.watch), Path(args.out), interval=args.interval, deployment=deployment)
        from shared.local.runner import play_seed

        return play_seed(Path(args.out), as_json=args.json, deployment=deployment)
    except (SyamlError, FileNotFoundError) as error:
        print(f"rolepact local: {error}", file=sys.stderr)
        return 2


def watch(directory: Path, out_dir: Path, *, interval: float = 1.0, stream=sys.stdout,
          stop_after: float | None = None, stop=None, deployment: Path | None = None) -> int:
    """DIR is the bucket: files under DIR/agreements/ are uploaded, changed or deleted as you edit them.

    Runs until Ctrl-C, `stop_after` seconds, or `stop` (a threading.Event) is set.
    """
    import hashlib

    from fakecloud import mock_cloud
    from shared.local.runner import _write_outputs, Timeline
    from shared.local.stage import build_stage
    from shared.runtime import reset_settings

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agreements").mkdir(exist_ok=True)
    seen: dict[str, str] = {}
    shown = 0
    started = time.monotonic()
    print(f"watching {directory}/agreements — drop or delete agreement files; Ctrl-C stops", file=stream, flush=True)
    with mock_cloud() as cloud:
        stage = build_stage(cloud, deployment=deployment)
        stage.fc.start_workers(2)
        try:
            while (stop_after is None or time.monotonic() - started < stop_after) and not (stop and stop.is_set()):
                current = {}
                for path in sorted((directory / "agreements").glob("*.json")):
                    key = f"agreements/{path.name}"
                    current[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                    if seen.get(key) != current[key]:
                        stage.upload(key, path.read_bytes(), deliver=False)
                        print(f"uploaded {key}", file=stream, flush=True)
                for key in set(seen) - set(current):
                    stage.delete(key, deliver=False)
                    print(f"deleted {key}", file=stream, flush=True)
                seen = current
                stage.fc.fire_due_timers()
                stage.fc.wait_idle(timeout=interval)
                messages = stage.messages()
                for message in messages[shown:]:
                    body = message["payload"].get("markdown") or message["payload"].get("text") or {}
                    print(f"\n=== DingTalk: {body.get('title', '')}\n{body.get('text') or body.get('content', '')}\n",
                          file=stream, flush=True)
                shown = len(messages)
                time.sleep(interval)
        except KeyboardInterrupt:
            print("stopping", file=stream, flush=True)
        finally:
            stage.fc.stop_workers()
            _write_outputs(out_dir, stage, Timeline(stream))
            reset_settings(None)
    print(f"outputs in {out_dir}", file=stream, flush=True)
    return 0


def cmd_policies(args) -> int:
    """Write the two RAM policies the deployment needs, filled from the file and the five exports."""
    import os

    from shared.local.policies import write
    from shared.local.stage import EXPORTED
    from shared.local.syaml import SyamlError, dotenv
    from shared.local.wiring import load

    try:
        environ = {**dotenv(args.deployment), **os.environ}
        wiring = load(Path(args.deployment), {name: environ[name] for name in EXPORTED if name in environ})
        for path in write(wiring, Path(args.out)):
            print(path)
    except (SyamlError, FileNotFoundError, KeyError) as error:
        print(f"rolepact policies: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_fake_serve(args) -> int:
    from fakecloud.__main__ import main as fake_main

    argv = ["--host", args.host, "--port", str(args.port), "--region", args.region, "--latency", str(args.latency)]
    if args.verbose:
        argv.append("--verbose")
    for account in args.account:
        argv += ["--account", account]
    return fake_main(argv)


def add_local_commands(commands) -> None:
    local = commands.add_parser("local", help="run rolepact on the built-in fake cloud (the main job by default)")
    local.add_argument("--watch", metavar="DIR", help="DIR is the bucket: react to agreement files dropped there")
    local.add_argument("--out", default="local-out", help="where DingTalk messages, reports and status go")
    local.add_argument("--deployment", default=str(PROJECT_ROOT / "s.yaml"), metavar="FILE",
                       help="the deployment file whose functions and triggers run: s.yaml (FC 2.0, the default) "
                            "or deploy/fc3/s.yaml (FC 3.0)")
    local.add_argument("--interval", type=float, default=1.0, help="--watch polling interval, seconds")
    local.add_argument("--json", action="store_true", help="timeline as JSON lines")
    local.add_argument("--verbose", action="store_true", help="also show the functions' JSON logs")
    local.set_defaults(run=cmd_local)

    policies = commands.add_parser("policies", help="write the RAM policies a deployment file needs, filled in from "
                                                     "it and the exported ROLEPACT_* values (README: Deploy)")
    policies.add_argument("--deployment", default=str(PROJECT_ROOT / "s.yaml"), metavar="FILE",
                          help="s.yaml (FC 2.0, the default) or deploy/fc3/s.yaml (FC 3.0)")
    policies.add_argument("--out", default="build/policies", help="directory for the two policy files")
    policies.set_defaults(run=cmd_policies)

    fake = commands.add_parser("fake", help="the fake cloud on its own")
    fake_commands = fake.add_subparsers(dest="fake_command", required=True)
    serve = fake_commands.add_parser("serve", help="serve the fake over HTTP (same as python -m fakecloud)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--region", default="cn-hangzhou")
    serve.add_argument("--account", action="append", default=[], help="ACCOUNT_ID[:ALIAS[:AK_ID:AK_SECRET]]")
    serve.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    serve.add_argument("--verbose", action="store_true")
    serve.set_defaults(run=cmd_fake_serve)
