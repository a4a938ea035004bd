"""Config for tortoise's own CLI (`tortoise makemigrations`, `tortoise migrate`), read from the environment.

Only the CLI imports this module (see [tool.tortoise] in pyproject.toml); the server builds its config
from the Settings it was started with.
"""

from .db import tortoise_config
from .settings import Settings

TORTOISE_ORM = tortoise_config(Settings.from_env())
