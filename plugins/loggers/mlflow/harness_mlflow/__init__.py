"""``logger=mlflow``: one MLflow run per harness run, continued by ``harness resume``."""
