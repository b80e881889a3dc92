"""Who may sign in: password hashes, the users file, the console's settings, and the
``pms-luigi serve`` command itself (a password from stdin only; 127.0.0.1 by default; one
line and exit 2 when it is not configured; SIGTERM stops it)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import luigi
import pytest

from pms_luigi.core.errors import BadRequest
from pms_luigi.web import auth
from pms_luigi.web.settings import SECRET_ENV, ConsoleSettings

REPO = Path(__file__).resolve().parents[2]


def test_a_hash_checks_its_password_and_nothing_else() -> None:
    stored = auth.hash_password("correct horse battery")
    kind, salt, key = stored.split("$")
    assert (kind, len(salt), len(key)) == ("scrypt", 32, 64)
    assert auth.check_password(stored, "correct horse battery")
    assert not auth.check_password(stored, "correct horse batterY")
    assert not auth.check_password("plain-text", "plain-text")
    assert auth.hash_password("correct horse battery") != stored  # a fresh salt each time
    with pytest.raises(BadRequest, match="at least 10 characters"):
        auth.hash_password("short")


def test_authenticate_answers_none_for_a_wrong_name_or_password() -> None:
    users = {"ana": auth.User("ana", "pm", auth.hash_password("ana-password-1"))}
    assert auth.authenticate(users, "ana", "ana-password-1") is users["ana"]
    assert auth.authenticate(users, "ana", "wrong-password") is None
    assert auth.authenticate(users, "bob", "ana-password-1") is None
    assert users["ana"].may("decide") and not users["ana"].may("rerun")
    assert "scrypt" not in repr(users["ana"])


def _users_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "users.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "message"), [
    ("", "no [[user]] entries"),
    ('[[user]]\nname = "ana"\nrole = "pm"\n', "needs exactly name, role and password"),
    ('[[user]]\nname = "ana"\nrole = "admin"\npassword = "{h}"\n', "role 'admin' is not one of"),
    ('[[user]]\nname = "a b"\nrole = "pm"\npassword = "{h}"\n', "letters, digits"),
    ('[[user]]\nname = "ana"\nrole = "pm"\npassword = "hunter2-hunter2"\n',
     "must be a hash made by `pms-luigi serve --hash-password`"),
    ('[[user]]\nname = "ana"\nrole = "pm"\npassword = "{h}"\n' * 2, "ana is listed twice"),
    ("[[user]\n", "users.toml"),
])
def test_a_bad_users_file_is_refused_naming_the_problem(tmp_path: Path, body: str,
                                                        message: str) -> None:
    path = _users_file(tmp_path, body.replace("{h}", auth.hash_password("0123456789")))
    with pytest.raises(auth.UsersFileError, match=message.replace("[", r"\[").replace("(", r"\(")):
        auth.load_users(path)


def test_the_example_users_file_loads_and_lets_nobody_in() -> None:
    users = auth.load_users(REPO / "config" / "console_users.example.toml")
    assert {u.role for u in users.values()} == set(auth.ROLES)
    assert all(auth.authenticate(users, name, "change-me-please") is None for name in users)


def test_settings_from_luigi_cfg_bind_loopback_and_check_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _users_file(tmp_path, f'[[user]]\nname = "vic"\nrole = "viewer"\npassword = '
                                 f'"{auth.hash_password("vic-password-4")}"\n')
    conf = luigi.configuration.get_config()
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(BadRequest, match=r"set \[pms_console\] users_file"):
        ConsoleSettings.load()
    try:
        conf.set("pms_console", "users_file", str(path))
        settings = ConsoleSettings.load()
        assert (settings.host, settings.port, list(settings.users)) == ("127.0.0.1", 8090, ["vic"])
        assert not settings.secret_from_env and len(settings.secret) == 64
        assert settings.secret not in repr(settings)
        monkeypatch.setenv(SECRET_ENV, "too-short")
        with pytest.raises(BadRequest, match="at least 32 characters"):
            ConsoleSettings.load()
        monkeypatch.setenv(SECRET_ENV, "x" * 40)
        assert ConsoleSettings.load(port=9000).secret == "x" * 40
        conf.set("pms_console", "eod_due", "8.30pm")
        with pytest.raises(BadRequest, match=r"eod_due = '8.30pm': not a time"):
            ConsoleSettings.load()
    finally:
        conf.remove_option("pms_console", "users_file")
        conf.remove_option("pms_console", "eod_due")


def _cli(*args: str, stdin: str = "", env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pms_luigi.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=False)


def test_hash_password_reads_stdin_never_the_command_line(tmp_path: Path) -> None:
    done = _cli("serve", "--hash-password", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    stored = done.stdout.strip()
    assert auth.check_password(stored, "a long enough password")
    assert "a long enough password" not in done.stdout + done.stderr
    refused = _cli("serve", "--hash-password", "a long enough password")
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
    short = _cli("serve", "--hash-password", stdin="short\n")
    assert short.returncode == 2 and "password too short" in short.stderr


def test_serve_without_users_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _cli("serve", env={"LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg"),
                              "PMS_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().endswith("see docs/console.md [exit 2 BAD_REQUEST]")
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_listens_on_loopback_and_stops_on_sigterm(tmp_path: Path) -> None:
    users = _users_file(tmp_path, f'[[user]]\nname = "vic"\nrole = "viewer"\npassword = '
                                  f'"{auth.hash_password("vic-password-4")}"\n')
    port = _free_port()
    env = {**os.environ, "PMS_DATA_DIR": str(tmp_path / "var")}
    env.pop(SECRET_ENV, None)
    server = subprocess.Popen(
        [sys.executable, "-m", "pms_luigi.cli.main", "serve", "--users", str(users),
         "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    assert r.status == 200 and b'id="sign-in"' in r.read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    assert f"console on http://127.0.0.1:{port}/ (1 user(s)" in out
    assert f"{SECRET_ENV} is not set: sessions are signed with a key made for this process" in out
    assert "console stopped" in out and "scrypt$" not in out
