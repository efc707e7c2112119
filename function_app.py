"""Entry point the Functions host imports: the app and its blueprints, nothing else."""

from functions.app import create_app

app = create_app()
