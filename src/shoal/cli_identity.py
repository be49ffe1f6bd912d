"""`shoal identity ...`: manage the built-in identity offline, straight in the database —
the first admin (bootstrap), projects, users and their roles."""

from __future__ import annotations


import getpass
import json
import os
import shlex
import secrets
import sys
from pathlib import Path

from shoal import config


def _identity(settings: config.Settings):
    from shoal.db.migrate import is_current
    from shoal.db.session import Database
    from shoal.services.common.core import Core
    from shoal.services.common.tasks import TaskRunner
    from shoal.services.identity.identity import Identity

    db = Database(settings.database.url)
    if not is_current(db.engine):
        print("shoal: the database is not at the current schema; run: shoal db upgrade", file=sys.stderr)
        raise SystemExit(2)
    core = Core(settings=settings, db=db, drivers={}, tasks=TaskRunner(1), volume_drivers={})
    identity = Identity(core, settings.identity, settings.state_dir)
    identity.ensure_roles()
    return identity


def problems(settings: config.Settings) -> list[str]:
    """What `shoal doctor` says about the built-in identity."""
    from shoal.db.migrate import is_current
    from shoal.db.session import make_engine

    if settings.api.auth != "identity":
        return []
    try:
        current = is_current(make_engine(settings.database.url))
    except Exception as exc:  # an unreachable database is a problem to report, not a crash
        return [f"identity: the database cannot be read ({exc.__class__.__name__}); check database.url"]
    if not current:
        return ["identity: the database is not at the current schema; fix: shoal db upgrade"]
    if not _identity(settings).has_admin():
        return ["identity: no user has the admin role, nobody can log in to administer Shoal; "
                "fix: shoal identity bootstrap"]
    return []


def _password(args, generate: bool) -> tuple[str, bool]:
    """From --password-file, else $SHOAL_PASSWORD, else a prompt; else (generate) a new one.
    Never from the command line, where every user of the machine could read it."""
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip(), False
    if os.environ.get("SHOAL_PASSWORD"):
        return os.environ["SHOAL_PASSWORD"], False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise SystemExit("shoal: the passwords differ")
        return first, False
    if generate:
        return secrets.token_urlsafe(18), True
    raise SystemExit("shoal: give the password with --password-file or $SHOAL_PASSWORD")


def _write_private(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(target, 0o600)


def _credentials(settings: config.Settings, username: str, password: str, project: str) -> dict[str, str]:
    origin = (settings.api.public_url or f"http://{settings.api.listen}").rstrip("/")
    return {"OS_AUTH_URL": f"{origin}/identity/v3", "OS_USERNAME": username, "OS_PASSWORD": password,
            "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": settings.identity.region,
            "OS_AUTH_TYPE": "password"}


def clouds_yaml(creds: dict[str, str], cloud: str = "shoal") -> str:
    """A clouds.yaml for openstack/openstacksdk (JSON strings are valid YAML scalars)."""
    q = json.dumps
    return (f"clouds:\n  {cloud}:\n    auth_type: password\n    auth:\n"
            f"      auth_url: {q(creds['OS_AUTH_URL'])}\n      username: {q(creds['OS_USERNAME'])}\n"
            f"      password: {q(creds['OS_PASSWORD'])}\n      project_name: {q(creds['OS_PROJECT_NAME'])}\n"
            f"      user_domain_name: Default\n      project_domain_name: Default\n"
            f"    region_name: {q(creds['OS_REGION_NAME'])}\n    identity_api_version: 3\n")


def openrc(creds: dict[str, str]) -> str:
    """Environment for `cinder` and `openstack` without a clouds.yaml."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in creds.items())


def cmd_bootstrap(args, settings) -> int:
    identity = _identity(settings)
    password, generated = _password(args, generate=True)
    user, project = identity.bootstrap(args.username, password, args.project)
    print(f"admin user {user.name} ({user.id}) has the admin role on project {project.name} ({project.id})")
    creds = _credentials(settings, user.name, password, project.name)
    if args.clouds_yaml:
        _write_private(args.clouds_yaml, clouds_yaml(creds))
        print(f"wrote {args.clouds_yaml} (cloud 'shoal')")
    if args.openrc:
        _write_private(args.openrc, openrc(creds))
        print(f"wrote {args.openrc}")
    if generated:
        print(f"generated password: {password}")
    return 0


def _by_name(rows, name: str, what: str):
    for row in rows:
        if name in (row.name, row.id):
            return row
    raise SystemExit(f"shoal: no {what} named {name}")


def cmd_project_create(args, settings) -> int:
    from shoal.services.identity.identity import system_caller

    project = _identity(settings).create_project(system_caller(), {"name": args.name,
                                                                   "description": args.description})
    print(f"project {project.name} ({project.id})")
    return 0


def cmd_user_create(args, settings) -> int:
    from shoal.services.identity.identity import system_caller

    identity, caller = _identity(settings), system_caller()
    password, generated = _password(args, generate=True)
    project = _by_name(identity.list_projects(caller), args.project, "project") if args.project else None
    user = identity.create_user(caller, {"name": args.name, "password": password,
                                         "default_project_id": project.id if project else None})
    if project is not None:
        role = _by_name(identity.list_roles(caller), args.role, "role")
        identity.grant(caller, project.id, user.id, role.id)
    print(f"user {user.name} ({user.id})" + (f" is {args.role} of project {project.name}" if project else ""))
    if generated:
        print(f"generated password: {password}")
    return 0


def cmd_role_add(args, settings) -> int:
    from shoal.services.identity.identity import system_caller

    identity, caller = _identity(settings), system_caller()
    project = _by_name(identity.list_projects(caller), args.project, "project")
    user = _by_name(identity.list_users(caller), args.user, "user")
    role = _by_name(identity.list_roles(caller), args.role, "role")
    identity.grant(caller, project.id, user.id, role.id)
    print(f"user {user.name} is {role.name} of project {project.name}")
    return 0


def cmd_list(args, settings) -> int:
    from shoal.services.identity.identity import system_caller

    identity, caller = _identity(settings), system_caller()
    for project in identity.list_projects(caller):
        print(f"project {project.name} {project.id}")
    for assignment, user, project, role in identity.assignments(caller):
        print(f"  {user.name} is {role.name} of {project.name}")
    return 0


def add_parser(sub, settings_of) -> None:
    def run(func):
        return lambda args: func(args, settings_of(args))

    ident = sub.add_parser("identity", help="the built-in identity: first admin, projects, users, roles")
    isub = ident.add_subparsers(dest="identity_command", required=True)
    password_help = "file holding the password (else $SHOAL_PASSWORD, a prompt, or one is generated)"

    boot = isub.add_parser("bootstrap", help="roles, an admin project and an admin user (idempotent)")
    boot.add_argument("--username", default="admin")
    boot.add_argument("--project", default="admin")
    boot.add_argument("--password-file", help=password_help)
    boot.add_argument("--clouds-yaml", help="also write a clouds.yaml (0600) with cloud 'shoal' for this admin")
    boot.add_argument("--openrc", help="also write an openrc (0600) with OS_* variables for this admin")
    boot.set_defaults(func=run(cmd_bootstrap))

    pc = isub.add_parser("project-create", help="a new project")
    pc.add_argument("name")
    pc.add_argument("--description")
    pc.set_defaults(func=run(cmd_project_create))

    uc = isub.add_parser("user-create", help="a new user, optionally with a role on a project")
    uc.add_argument("name")
    uc.add_argument("--project", help="project name or id: the user's default project")
    uc.add_argument("--role", default="member", choices=None, help="role on --project (default member)")
    uc.add_argument("--password-file", help=password_help)
    uc.set_defaults(func=run(cmd_user_create))

    ra = isub.add_parser("role-add", help="give a user a role on a project")
    ra.add_argument("--user", required=True)
    ra.add_argument("--project", required=True)
    ra.add_argument("role")
    ra.set_defaults(func=run(cmd_role_add))

    isub.add_parser("list", help="projects and who has which role").set_defaults(func=run(cmd_list))



