"""``crontab.example`` runs under cron (issue #10): every job line through ``/bin/sh -c`` with
cron's environment — ``env -i`` with cron's ``SHELL``, ``HOME``, ``LOGNAME`` and
``PATH=/usr/bin:/bin``, then the crontab's own variable lines applied as cron applies them (its
``PATH`` among them), no terminal, stdin from /dev/null — against the Chatwoot-like server on
127.0.0.1.

Only the paths are swapped for the test's (``CHDIR``, ``ENV_FILE``, the dashboard's output file),
and the ``PATH`` line gets the directory of this environment's ``chatwoot-health`` in front, as the
crontab's note says to do for a virtual environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factory import artifact, write_all
from tests.servers.chatwoot_server import MEMBER_ACCOUNT, ChatwootServer, closed_port
from tests.servers.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
CRONTAB = ROOT / "crontab.example"
CRON_PATH = "/usr/bin:/bin"  # cron's own PATH, before the crontab's variable lines
PIP_BIN = "/usr/local/bin"  # where `pip install` puts console scripts system-wide
_VARIABLE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Job:
    schedule: str
    command: str


def parse(text: str) -> tuple[dict[str, str], list[Job]]:
    """The variable lines (cron strips one pair of matching quotes, expands nothing) and the job
    lines (five time fields, then the command) of a crontab."""
    variables: dict[str, str] = {}
    jobs: list[Job] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = _VARIABLE.match(line)
        if assignment and not line.split()[0][0].isdigit() and not line.startswith("*"):
            name, value = assignment.groups()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            variables[name] = value
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a job line: {line!r}"
        jobs.append(Job(" ".join(fields[:5]), fields[5]))
    return variables, jobs


def console_script_dir(tmp: Path) -> Path:
    """The directory of this environment's ``chatwoot-health`` console script (the real script,
    not a pyenv shim) — when it runs this checkout's code; else (an editable install of another
    checkout) a ``chatwoot-health`` of the same shape in ``tmp`` that does."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = scripts / "chatwoot-health"
    if not found.is_file():
        which = shutil.which("chatwoot-health")
        assert which, "chatwoot-health is not installed (pip install -e .)"
        found = Path(which)
    probe = subprocess.run(
        [sys.executable, "-c", "import chatwoot_health; print(chatwoot_health.__file__)"],
        capture_output=True, text=True, cwd="/", check=True,
    )  # fmt: skip
    if Path(probe.stdout.strip()).parent.parent == ROOT:
        return found.parent
    shim = tmp / "bin" / "chatwoot-health"
    shim.parent.mkdir()
    shim.write_text(
        f"#!{sys.executable}\n"
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from chatwoot_health.cli import main\n"
        "sys.exit(main())\n"
    )
    shim.chmod(0o755)
    return shim.parent


@dataclass
class Cron:
    root: Path
    env_file: Path
    artifacts: Path
    page: Path
    variables: dict[str, str]
    jobs: list[Job]

    def run(self, job: Job) -> subprocess.CompletedProcess[str]:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        environment = {
            "PATH": CRON_PATH,
            "SHELL": "/bin/sh",
            "HOME": str(home),
            "LOGNAME": "chatwoot-health",
        }
        environment.update(self.variables)
        command = job.command.replace("/var/www/chatwoot-health/index.html", str(self.page))
        command = command.replace("/var/www/chatwoot-health/", f"{self.page.parent}/")  # badges
        assert "%" not in command  # cron would turn it into a newline
        return subprocess.run(
            ["env", "-i", *(f"{k}={v}" for k, v in environment.items()), "/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # no controlling terminal
            cwd="/",
        )

    def write_env(self, base_url: str, token: str, agent_url: str, **extra: str) -> None:
        lines = {
            "CHATWOOT_BASE_URL": base_url,
            "CHATWOOT_API_TOKEN": token,
            "CHATWOOT_ACCOUNT_ID": str(MEMBER_ACCOUNT),
            "AGENT_HEALTH_URL": agent_url,
            "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(self.artifacts),
            "CHATWOOT_HEALTH_INTERVAL": "5m",
            **extra,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        self.env_file.chmod(0o600)


@pytest.fixture
def cron(tmp_path: Path) -> Iterator[Cron]:
    variables, jobs = parse(CRONTAB.read_text(encoding="utf-8"))
    chdir = tmp_path / "srv"
    chdir.mkdir()
    env_file = tmp_path / "chatwoot-health.env"
    variables["CHDIR"] = str(chdir)
    variables["ENV_FILE"] = str(env_file)
    variables["PATH"] = f"{console_script_dir(tmp_path)}:{variables['PATH']}"
    (tmp_path / "www").mkdir()
    yield Cron(
        tmp_path, env_file, tmp_path / "artifacts", tmp_path / "www" / "index.html", variables, jobs
    )


def job(cron: Cron, needle: str) -> Job:
    (found,) = [j for j in cron.jobs if needle in j.command]
    return found


def test_the_crontab_is_written_for_cron() -> None:
    variables, jobs = parse(CRONTAB.read_text(encoding="utf-8"))
    assert PIP_BIN in variables["PATH"].split(":")
    assert set(CRON_PATH.split(":")) <= set(variables["PATH"].split(":"))
    assert variables["SHELL"] == "/bin/sh"
    assert "#MAILTO=" in CRONTAB.read_text(encoding="utf-8")
    assert len(jobs) == 5
    for each in jobs:
        # Every job reads the same settings file, so every job sees the same artifacts directory.
        assert re.search(
            r'set -a && \. "\$ENV_FILE" && set \+a && \{? ?chatwoot-health ', each.command
        )
        assert "2>/dev/null" not in each.command and "2>&1" not in each.command
    check = next(
        j for j in jobs if j.command.endswith("chatwoot-health check --no-color >/dev/null")
    )
    assert check.schedule == "*/5 * * * *"
    assert "CHATWOOT_HEALTH_INTERVAL=5m" in CRONTAB.read_text(encoding="utf-8")
    assert "CHATWOOT_HEALTH_NOTIFY=" in CRONTAB.read_text(encoding="utf-8")


def test_every_job_runs_under_cron_against_a_healthy_server(
    cron: Cron, chatwoot: ChatwootServer
) -> None:
    with Receiver() as receiver:
        cron.write_env(
            chatwoot.url, chatwoot.token, chatwoot.agent_url, ALERT_WEBHOOK_URL=receiver.url()
        )
        outcomes = [(each, cron.run(each)) for each in cron.jobs]
        received = list(receiver.received)
    for each, done in outcomes:
        assert done.returncode == 0, f"{each.command}\n{done.stdout}\n{done.stderr}"
        assert "not found" not in done.stderr
    check = job(cron, "check --no-color >/dev/null")
    dashboard = job(cron, "--format html")
    prune = job(cron, "prune")
    badges = job(cron, "--format badge")
    quiet = {check, dashboard, prune, badges}
    for each, done in outcomes:
        if each in quiet:  # cron mails nothing
            assert (done.stdout, done.stderr) == ("", ""), each.command
    morning = next(done for each, done in outcomes if "--detailed" in each.command)
    assert morning.stdout.startswith("CHATWOOT OK")  # the mailed morning check, in full
    assert "Uptime" in morning.stdout
    assert cron.page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (cron.page.parent / "status.svg").read_text(encoding="utf-8").startswith("<svg ")
    assert '"schemaVersion": 1' in (cron.page.parent / "status.json").read_text(encoding="utf-8")
    assert len(list(cron.artifacts.rglob("*.json"))) == 2  # the */5 check and the morning one
    assert received == []  # healthy: nothing to tell anyone


def test_the_check_job_mails_what_failed_when_chatwoot_is_down(cron: Cron) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    cron.write_env(
        down,
        "x" * 24,
        down + "/agent/health",
        CHATWOOT_HEALTH_RETRY_INTERVAL="1s",
        CHATWOOT_HEALTH_DOWN_AFTER="2s",
    )
    done = cron.run(job(cron, "check --no-color >/dev/null"))
    assert done.returncode == 2
    assert done.stdout == ""
    first = done.stderr.splitlines()[0]
    assert first.startswith("chatwoot-health: CRITICAL"), done.stderr
    assert "liveness" in first and "connection refused" in first
    assert "x" * 24 not in done.stderr


def test_prune_reads_the_artifacts_directory_from_the_env_file(cron: Cron) -> None:
    cron.write_env("http://127.0.0.1:9", "x" * 24, "http://127.0.0.1:9/agent")
    cron.artifacts.mkdir()
    old = cron.artifacts / "20200101T000000Z-0a1b2c3d.json"
    old.write_text("{}")
    done = cron.run(job(cron, "prune"))
    assert (done.returncode, done.stderr) == (0, "")
    assert not old.exists()


def test_without_the_path_line_cron_cannot_find_the_command(cron: Cron) -> None:
    """What the PATH line is for: with cron's own PATH the console script is not found."""
    variables = {k: v for k, v in cron.variables.items() if k != "PATH"}
    bare = Cron(cron.root, cron.env_file, cron.artifacts, cron.page, variables, cron.jobs)
    cron.write_env("http://127.0.0.1:9", "x" * 24, "http://127.0.0.1:9/agent")
    if os.path.exists("/usr/bin/chatwoot-health") or os.path.exists("/bin/chatwoot-health"):
        pytest.skip("chatwoot-health is installed in cron's own PATH here")
    done = bare.run(job(cron, "prune"))
    assert done.returncode == 127 and "chatwoot-health" in done.stderr


def test_page_and_badge_jobs_stay_quiet_while_an_alert_lasts(
    cron: Cron, chatwoot: ChatwootServer
) -> None:
    """A day whose uptime is below target (one failed run): the page and badge jobs write their
    files and exit 1 (the verdict), but mail nothing — `check` is the one that notifies."""
    cron.write_env(chatwoot.url, chatwoot.token, chatwoot.agent_url)
    now = datetime.now(UTC).replace(microsecond=0)
    runs = [artifact(now - timedelta(minutes=5 * i), up=i != 10, pending=3) for i in range(1, 288)]
    write_all(cron.artifacts, runs)
    for needle, files in (("--format html", ["index.html"]), ("--format badge", ["status.svg"])):
        done = cron.run(job(cron, needle))
        assert done.returncode == 1, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), needle
        for name in files:
            assert (cron.page.parent / name).stat().st_size > 0
