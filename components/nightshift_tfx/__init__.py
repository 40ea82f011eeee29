"""TFX-side code of nightshift: imported only in the runtime interpreter (.venv-tfx)."""
