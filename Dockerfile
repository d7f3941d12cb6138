# The image every Journeys service runs: Airflow 3 with the project installed (the DAGs, the
# `journeys` command, dbt and Great Expectations). docker-compose.yml builds it once.
FROM apache/airflow:3.3.2-python3.11

# Editable install: journeys/transform.py finds dbt_project/ next to the package, as in a checkout.
# The [airflow] extra pins apache-airflow to the version of this image, so pip keeps it. The
# output folders are made here, owned by airflow, so the volume mounted on them is writable.
COPY --chown=airflow:root . /opt/journeys
RUN pip install --no-cache-dir -e "/opt/journeys[airflow]" \
    && mkdir -p /opt/airflow/journeys/quality /opt/airflow/journeys/reports

# DAGs come from the image; generated files go to /opt/airflow/journeys (a volume in compose).
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/journeys/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False \
    JOURNEYS_QUALITY_OUTPUT_DIR=/opt/airflow/journeys/quality \
    JOURNEYS_REPORT_PATH=/opt/airflow/journeys/reports/journeys.html
