from alembic import context
from sqlalchemy import pool

from shoal.db import export_ids, image_cache, resource_locks, share_group_types, share_groups, share_migrations, share_networks, share_transfers, volume_extras, volume_migrations  # noqa: F401  (their tables, for autogenerate)
from shoal.db.models import Base
from shoal.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
