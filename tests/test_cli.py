"""The command line a newcomer uses: keys, secrets, migrations, the spec."""

import json
import os
import subprocess
import sys

import pytest
from standardwebhooks.webhooks import Webhook

from callsvc import cli


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    """Run the CLI with the test's own CALLSVC_* values and none of the shell's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSVC_")}
    env["CALLSVC_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "callsvc", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_keys_create_migrates_a_new_database_and_prints_the_key_alone_on_the_last_line(tmp_sqlite_url):
    result = run_cli("keys", "create", "--role", "admin", "--name", "ops", database_url=tmp_sqlite_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_") and " " not in key


def test_keys_create_refuses_a_rep_key_without_its_manager(tmp_sqlite_url):
    result = run_cli("keys", "create", "--role", "rep", "--name", "anna", database_url=tmp_sqlite_url)
    assert result.returncode != 0
    assert "manager" in result.stderr


def test_the_cli_runs_on_its_own_values_whatever_the_shell_exports(tmp_sqlite_url, monkeypatch):
    monkeypatch.setenv("CALLSVC_TIMEZONE", "Not/AZone")  # the service would refuse to start on it
    result = run_cli("secret", database_url=tmp_sqlite_url)
    assert result.returncode == 0, result.stderr


def test_secret_prints_a_key_standard_webhooks_libraries_accept(tmp_sqlite_url):
    secret = run_cli("secret", database_url=tmp_sqlite_url).stdout.strip()
    assert secret.startswith("whsec_")
    Webhook(secret)  # raises on anything that is not a valid key


def test_openapi_prints_the_spec(tmp_sqlite_url):
    spec = json.loads(run_cli("openapi", database_url=tmp_sqlite_url).stdout)
    assert "/webhooks/{provider}" in spec["paths"]


def test_serve_takes_a_number_of_worker_processes(monkeypatch):
    served = []
    monkeypatch.setattr(cli, "_serve", lambda settings, args: served.append(args.workers))
    cli.main(["serve"])
    cli.main(["serve", "--workers", "3"])
    assert served == [1, 3]


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_serve_refuses_a_worker_count_below_one(workers, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_serve", lambda settings, args: pytest.fail("served"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", "--workers", workers])
    assert exit_.value.code == 2
    assert "--workers: must be a whole number of processes, 1 or more" in capsys.readouterr().err
