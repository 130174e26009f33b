"""Settings for the Celery worker and beat that test_celery.py starts: the project's settings
(DATABASE_URL names the test database, CELERY_BROKER_URL/FOLDER the broker), plus a queue and a
media folder of the test's own so nothing else consumes its tasks or sees its files."""

import os

from hub.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["HUB_TEST_CELERY_QUEUE"]
MEDIA_ROOT = os.environ["HUB_TEST_MEDIA_ROOT"]
CONN_MAX_AGE = 0
