"""Issue #6 acceptance, part 5: `rolepact report --since … --until …` renders the digest locally."""
from __future__ import annotations

import argparse
import json
from datetime import timedelta

from audit_support import (  # noqa: F401 - fixtures
    T0, assume, clock, digest_report, digests, fake, iso, next_digest_time, partner_user, provision, seed_doc,
    seed_instance, stage, start, stop, tick,
)
from audit_support import keys, read_object
from report_support import parse_page
from report_support import text as html_text
from shared.audit.cli_report import add_report_command


def rolepact(*argv: str) -> int:
    """`rolepact <argv>`: through shared.cli when the report command is hooked there, else its own parser."""
    from shared import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "report" not in commands.choices:
        parser = argparse.ArgumentParser(prog="rolepact")
        add_report_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.run(args)


def test_the_cli_renders_the_same_report_as_the_digest(stage, clock, monkeypatch, capsys, tmp_path):
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    stop(alice, instance)
    start(alice, instance)
    stage.deliver()
    tick(stage, clock, T0 + timedelta(minutes=15))
    tick(stage, clock, next_digest_time(T0))
    [digest] = digests(stage)
    saved = digest_report(stage)

    for name, value in {"ALIBABA_CLOUD_ACCESS_KEY_ID": stage.owner.access_key_id,
                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": stage.owner.access_key_secret,
                        "ROLEPACT_BUCKET": stage.bucket, "ROLEPACT_REGION": stage.region,
                        "ROLEPACT_ACCOUNT_ID": stage.owner_id}.items():
        monkeypatch.setenv(name, value)
    window = ("--since", saved["since"], "--until", saved["until"])
    capsys.readouterr()
    assert rolepact("report", *window, "--json") == 0
    local = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in local.items() if k != "generatedAt"} == \
           {k: v for k, v in saved.items() if k != "generatedAt"}

    assert rolepact("report", *window) == 0
    text = capsys.readouterr().out.strip()
    # all but the title line, and the digest's link to its HTML page
    message = "\n\n".join(p for p in digest["text"].split("\n\n") if not p.startswith("**[Open the HTML report"))
    assert message != digest["text"]
    assert text.split("\n", 1)[1] == message.split("\n", 1)[1]
    assert "company-b/alice" in text

    # --html FILE: the same page as the digest's (but for its title and the time it was generated)
    page_file = tmp_path / "report.html"
    assert rolepact("report", *window, "--html", str(page_file)) == 0
    assert capsys.readouterr().out.startswith(f"wrote {page_file}: 1 agreement(s)")
    [digest_page] = [k for k in keys(stage, "reports/digest/") if k.endswith(".html")]
    ours, theirs = parse_page(page_file.read_text("utf-8")), parse_page(read_object(stage, digest_page).decode())
    assert [html_text(s) for s in ours.iter("section")] == [html_text(s) for s in theirs.iter("section")]
    assert len(list(ours.iter("svg"))) == 2
    assert rolepact("report", *window, "--html", "-") == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert rolepact("report", *window, "--html", str(tmp_path / "no" / "such" / "dir.html")) == 2

    assert rolepact("report", *window, "--agreement", "company-b-ecs-admin", "--json") == 0
    assert [a["agreementId"] for a in json.loads(capsys.readouterr().out)["agreements"]] == ["company-b-ecs-admin"]
    assert rolepact("report", *window, "--agreement", "nobody") == 1
    assert rolepact("report", "--since", "yesterday") == 2
    assert rolepact("report", "--since", iso(T0), "--until", iso(T0 - timedelta(hours=1))) == 2
