{#- Events corrected or tombstoned after they were loaded (`journeys events`): raw.touchpoints
    changed under models that only ever add what is new. Staging re-parses just those events; the
    identity graph and the facts, which cannot take an event back, are rebuilt from staging in the
    run that follows a correction (still an ordinary run, not --full-refresh). -#}

{#- The time from which corrections may not be in `relation` yet, as SQL, or none when there are
    none (or no raw.event_corrections, in warehouses older than it). A minute before its latest
    `column`, since the correction's clock (the warehouse's) and dbt's may differ slightly; a
    correction seen twice is applied twice, which changes nothing. -#}
{% macro corrections_since(relation, column) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set corrections = adapter.get_relation(database=target.database, schema='raw', identifier='event_corrections') -%}
    {%- if corrections is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = dbt.dateadd('minute', -1, '(select max(' ~ column ~ ') from ' ~ relation ~ ')') -%}
    {%- set found = run_query(
        "select 1 from " ~ source('raw', 'event_corrections') ~ " where " ~ to_utc('corrected_at')
        ~ " >= " ~ since ~ " limit 1"
    ) -%}
    {{ return(since if found.rows | length > 0 else none) }}
{%- endmacro %}

{#- The ids of the events corrected since `since` (SQL from corrections_since), as a subquery. -#}
{% macro corrected_event_ids(since) -%}
    select corrections.event_id from {{ source('raw', 'event_corrections') }} as corrections
    where {{ to_utc('corrections.corrected_at') }} >= {{ since }}
{%- endmacro %}

{#- is_incremental(), unless events were corrected since `column`'s latest value: then the model
    takes its full-build branch (and journeys_empty_when_corrected has emptied it). -#}
{% macro journeys_incremental(column) -%}
    {{ return(is_incremental() and corrections_since(this, column) is none) }}
{%- endmacro %}

{#- pre-hook of the incremental models downstream of staging: empty the table when events were
    corrected since `column`'s latest value, so the full build rebuilds it from staging. -#}
{% macro journeys_empty_when_corrected(column) -%}
    {%- if is_incremental() and corrections_since(this, column) is not none -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- pre-hook of the staging models: drop the staged copies of events corrected since they were
    staged; new_raw_touchpoints stages the corrected ones again, and tombstoned ones stay out. -#}
{% macro journeys_unstage_corrected() -%}
    {%- set since = corrections_since(this, 'staged_at') -%}
    {%- if since is not none -%}
    delete from {{ this }} where event_id in ({{ corrected_event_ids(since) }})
    {%- endif -%}
{%- endmacro %}
