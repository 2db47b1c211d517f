"""``python -m build`` makes a wheel that installs into a fresh virtual
environment (on Python 3.9, the oldest supported, when the machine has it)
and works there against the live server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path
from typing import Iterator, Optional

import pytest

from support import Server

SDK = Path(__file__).resolve().parents[1]


def oldest_python() -> Optional[str]:
    """A Python 3.9 with venv: ``LATCHKEY_SDK_PYTHON39``, ``python3.9`` on the
    PATH, or one of pyenv's; ``None`` if the machine has none."""
    candidates = [os.environ.get("LATCHKEY_SDK_PYTHON39"), shutil.which("python3.9")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for c in candidates:
        if not c:
            continue
        check = subprocess.run(
            [c, "-c", "import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 9)"],
            capture_output=True,
            timeout=30,
        )
        if check.returncode == 0:
            return c
    return None


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    out = Path(tempfile.mkdtemp(prefix="latchkey-wheel-"))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(SDK)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("latchkey-*.whl")
    yield built
    shutil.rmtree(out, ignore_errors=True)


def test_the_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("__init__.py", "types.py", "_resources.py", "fastapi.py", "flask.py", "py.typed"):
        assert f"latchkey/{required}" in names, required
    assert not [n for n in names if n.startswith(("tests/", "codegen/")) or "/tests/" in n]
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Python: >=3.9" in text and "Requires-Dist: httpx" in text and "Requires-Dist: pydantic" in text


def test_the_wheel_installs_into_a_fresh_environment_and_works(wheel: Path, server: Server) -> None:
    python = oldest_python() or sys.executable
    env_dir = Path(tempfile.mkdtemp(prefix="latchkey-venv-"))
    try:
        subprocess.run([python, "-m", "venv", str(env_dir)], check=True, capture_output=True, timeout=120)
        py = env_dir / "bin" / "python"
        install = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert install.returncode == 0, install.stderr
        script = textwrap.dedent(
            """
            import sys
            import latchkey
            from latchkey import Latchkey, AuthenticationError
            from latchkey.types import SCHEMAS, ApiKeyView

            lk = Latchkey()
            created = lk.keys.create(name="from the wheel", scopes=["sandbox:read"])
            verdict = lk.keys.verify(key=created.key, scopes=["sandbox:read"])
            assert (verdict.valid, verdict.code) == (True, "VALID"), verdict
            assert [k.id for k in lk.keys.list(limit=1)][0] == created.id
            try:
                lk.with_options(api_key="lk_live_wrong").me()
            except AuthenticationError as e:
                assert e.status == 401
            else:
                raise AssertionError("a wrong key was accepted")
            print(sys.version_info[0], sys.version_info[1], latchkey.__version__, len(SCHEMAS))
            """
        )
        env = {**os.environ, "LATCHKEY_API_KEY": server.admin_key, "LATCHKEY_API_URL": server.url}
        env.pop("PYTHONPATH", None)
        run = subprocess.run([str(py), "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=env_dir)
        assert run.returncode == 0, run.stderr
        major, minor, version, schemas = run.stdout.split()
        assert version == "0.1.0" and int(schemas) > 80
        if python != sys.executable:
            assert (major, minor) == ("3", "9")
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)
