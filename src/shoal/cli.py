"""The `shoal` command: serve, db upgrade, doctor, identity."""

from __future__ import annotations

import argparse
import logging
import sys

from shoal import config

KEEP_ALIVE_SECONDS = 75
SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


def _settings(args) -> config.Settings:
    try:
        return config.load(args.config)
    except config.ConfigError as exc:
        print(f"shoal: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args) -> int:
    import uvicorn

    from shoal.app import create_app
    from shoal.db.migrate import is_current
    from shoal.db.session import make_engine

    settings = _settings(args)
    if not is_current(make_engine(settings.database.url)):
        print("shoal: the database is not at the current schema; run: shoal db upgrade", file=sys.stderr)
        return 2
    # A background task handed work by a request waits for the GIL while the request
    # thread finishes its response; at the default 5 ms switch interval that wait
    # showed as ~3 ms more per operation. Handing over every 0.5 ms costs little.
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(settings)
    listen = args.listen or settings.api.listen
    host, _, port = listen.rpartition(":")
    # Clients that poll (`openstack ... --wait` every 5 s) reuse their idle connection
    # just as uvicorn's default 5 s keep-alive closes it, and get "connection reset".
    # Keeping idle connections longer than any client's poll interval avoids the race.
    uvicorn.run(app, host=host, port=int(port), log_level=args.log_level.lower(),
                timeout_keep_alive=KEEP_ALIVE_SECONDS)
    return 0


def cmd_db_upgrade(args) -> int:
    from shoal.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.database.url)
    print(f"database at {settings.database.url.split('@')[-1]} is up to date")
    return 0


def cmd_doctor(args) -> int:
    import shutil

    from shoal.services.common.backends import build_drivers

    settings = _settings(args)
    problems = []
    if shutil.which("qemu-img") is None:
        problems.append("qemu-img is missing; fix: apt-get install qemu-utils")
    from shoal.cli_identity import problems as identity_problems

    problems.extend(identity_problems(settings))
    share_drivers, volume_drivers = build_drivers(settings)
    for name in settings.backends:
        drivers = [d for d in (share_drivers.get(name), volume_drivers.get(name)) if d is not None]
        found = [problem for driver in drivers for problem in driver.problems()]  # a backend may offer one kind
        for problem in dict.fromkeys(found):  # both drivers see the same host
            problems.append(f"backend {name}: {problem}")
    if settings.image.enabled and settings.image.backend != "glance":
        from shoal.drivers.images import store_from_settings

        problems.extend(store_from_settings(settings).problems())
    if problems:
        for problem in problems:
            print(f"PROBLEM  {problem}")
        return 1
    print(f"ok: {len(settings.backends)} backend(s) ready")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shoal", description="Storage hosts as an OpenStack-compatible API")
    parser.add_argument("--config", help="TOML config file (default: $SHOAL_CONFIG, else /etc/shoal/shoal.toml)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--listen", help="HOST:PORT (default from config, 127.0.0.1:8787)")
    serve.set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to the current schema").set_defaults(func=cmd_db_upgrade)
    sub.add_parser("doctor", help="check every configured backend").set_defaults(func=cmd_doctor)
    from shoal.cli_identity import add_parser as add_identity

    add_identity(sub, _settings)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
