# AI-KO reference data and first administrator, seeded INSIDE a one-off backend container.
#
# scripts/init-db.mts sends this file on stdin to `python3 -`, preceded by one line
#     AIKO_SEED_INPUT = "<JSON>"
# (the steps to run, built from db/reference-data.json). ADMIN_PASSWORD comes from the
# environment only (`docker compose run -e ADMIN_PASSWORD`): never from argv or stdin.
# Standalone use: python3 seed.py < input.json
#
# It runs in the application's own Flask context (`from wsgi import app` by default) with the
# app's Flask-SQLAlchemy engine, and touches tables through SQLAlchemy Core with reflected
# tables: no ORM model of the app is imported. One transaction per step; rows are inserted
# when their key is missing, never updated or deleted. Each step prints one line
#     AIKO_SEED {"step": ..., ...}
# for the toolkit (lib/db/seed.ts); a failure prints {"step": ..., "error": ...} and exits 1.
# Nothing secret is ever printed: not the password, not its hash.
# This file is ASCII only, so that no locale of the container can misread it.
import importlib
import json
import os
import sys

MARK = "AIKO_SEED "


class StepError(Exception):
    """A problem the operator can fix (missing table or column, missing password)."""


def emit(report):
    sys.stdout.write(MARK + json.dumps(report, sort_keys=True, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def read_input():
    raw = globals().get("AIKO_SEED_INPUT")
    if raw is None:
        raw = sys.stdin.read()
    return json.loads(raw)


def load_app(spec):
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app")


def engine_of(app):
    extension = app.extensions.get("sqlalchemy")
    if extension is None:
        raise StepError("the Flask app has no Flask-SQLAlchemy extension (app.extensions['sqlalchemy'])")
    # Flask-SQLAlchemy 3 stores the SQLAlchemy object itself, 2.x a state holding it as .db.
    db = getattr(extension, "db", extension)
    return db.engine


def reflect(connection, spec, columns):
    from sqlalchemy import MetaData, Table
    from sqlalchemy.exc import NoSuchTableError

    try:
        table = Table(spec["table"], MetaData(), schema=spec.get("schema"), autoload_with=connection)
    except NoSuchTableError:
        return None
    missing = [name for name in columns if name not in table.c]
    if missing:
        raise StepError(
            "table %s has no column %s (its columns: %s): fix db/reference-data.json or the migrations"
            % (table.fullname, ", ".join(missing), ", ".join(column.name for column in table.c))
        )
    return table


def seed_reference(connection, step, dry_run):
    from sqlalchemy import func, select

    rows, key = step["rows"], step["key"]
    columns = sorted({name for row in rows for name in row})
    table = reflect(connection, step, columns)
    report = {"step": step["step"], "table": step["table"], "dry_run": dry_run}
    if table is None:
        if not dry_run:
            raise StepError("table %s does not exist: did the migrations run?" % step["table"])
        report.update(missing_table=True, inserted=[row[key] for row in rows], present=0, total=0)
        return report
    wanted = [row[key] for row in rows]
    present = {value for (value,) in connection.execute(select(table.c[key]).where(table.c[key].in_(wanted)))}
    inserted = []
    for row in rows:
        if row[key] not in present:
            # One row at a time: rows may set different columns (executemany would not allow it).
            connection.execute(table.insert().values(row))
            inserted.append(row[key])
    total = connection.execute(select(func.count()).select_from(table)).scalar()
    report.update(inserted=inserted, present=len(rows) - len(inserted), total=total)
    return report


def seed_admin(connection, step, password, reset, dry_run, secrets):
    from sqlalchemy import func, select
    from werkzeug.security import generate_password_hash

    email = step["email"].strip()
    if step.get("email_lowercase", True):
        email = email.lower()
    role_column = step.get("role_column")
    extra = step.get("extra") or {}
    columns = [step["email_column"], step["password_column"]] + ([role_column] if role_column else []) + sorted(extra)
    table = reflect(connection, step, columns)
    report = {"step": "admin", "table": step["table"], "email": email, "dry_run": dry_run}
    if table is None:
        if not dry_run:
            raise StepError("table %s does not exist: did the migrations run?" % step["table"])
        report.update(action="created", missing_table=True)
        return report
    email_column = table.c[step["email_column"]]
    match = func.lower(email_column) == email.lower() if step.get("email_lowercase", True) else email_column == email
    selected = [email_column] + ([table.c[role_column]] if role_column else [])
    existing = connection.execute(select(*selected).where(match)).first()
    if existing is not None and not reset:
        report.update(action="kept")
        if role_column:
            report["role"] = text_or_none(existing[1])
        return report
    if not password:
        raise StepError("ADMIN_PASSWORD is not set in the container's environment")
    password_hash = generate_password_hash(password)
    secrets.append(password_hash)
    if existing is not None:
        connection.execute(table.update().where(match).values({step["password_column"]: password_hash}))
        report.update(action="reset")
        if role_column:
            report["role"] = text_or_none(existing[1])
        return report
    values = dict(extra)
    values[step["email_column"]] = email
    values[step["password_column"]] = password_hash
    if role_column:
        values[role_column] = step.get("role_value", "admin")
    connection.execute(table.insert().values(values))
    report.update(action="created")
    return report


def text_or_none(value):
    return None if value is None else str(value)


def run_step(engine, dry_run, work):
    """One transaction per step: committed when the step succeeds, rolled back on error or dry run."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            report = work(connection)
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
        return report


def describe(error, secrets):
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, StepError):
        text = str(error)
    elif isinstance(error, DBAPIError) and error.orig is not None:
        # The driver's message only: SQLAlchemy's own text would list the statement's parameters.
        text = "%s: %s" % (error.orig.__class__.__name__, str(error.orig).strip())
    else:
        text = "%s: %s" % (error.__class__.__name__, error)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def main():
    data = read_input()
    dry_run = bool(data.get("dry_run"))
    password = os.environ.get("ADMIN_PASSWORD", "")
    secrets = [password]
    try:
        app = load_app(data.get("app", "wsgi:app"))
    except Exception as error:  # the app does not even import: say so, as a step
        emit({"step": "app", "error": describe(error, secrets)})
        return 1
    with app.app_context():
        engine = engine_of(app)
        for step in data["steps"]:
            try:
                if step["kind"] == "reference":
                    report = run_step(engine, dry_run, lambda c, s=step: seed_reference(c, s, dry_run))
                else:
                    reset = bool(data.get("reset_admin_password"))
                    report = run_step(engine, dry_run, lambda c, s=step: seed_admin(c, s, password, reset, dry_run, secrets))
            except Exception as error:
                emit({"step": step["step"], "error": describe(error, secrets)})
                return 1
            emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
